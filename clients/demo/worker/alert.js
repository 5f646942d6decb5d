// The offer's alert: beeps made with the Web Audio API (an oscillator, nothing downloaded) and
// navigator.vibrate with the pattern the offer carries (`offer.alert.vibrate`). Browsers start
// audio only after the person has touched the page, so the page calls `unlock()` on a first tap.
//
// window.__demo counts what happened, for browser tests: `audioPlays` (beep sequences played),
// `audioBlocked` (sequences the browser would not play yet), `vibrations` (each pattern asked for).
export const demoHooks = (window.__demo ??= { audioPlays: 0, audioBlocked: 0, vibrations: [] });

const BEEPS = [
  // [start (s), length (s), frequency (Hz)]: two rising tones, twice
  [0.0, 0.18, 880],
  [0.22, 0.18, 1175],
  [0.6, 0.18, 880],
  [0.82, 0.18, 1175],
];

let context = null;

function audio() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  context ??= new Context();
  return context;
}

/** Make the audio context now: where the browser allows sound without a tap, it is ready at once. */
export function prepare() {
  audio();
  return soundAllowed();
}

/** Let sound play from now on (call from a tap or a click). */
export async function unlock() {
  const ctx = audio();
  if (ctx && ctx.state === "suspended") {
    try {
      await ctx.resume();
    } catch {
      // still blocked: the next gesture tries again
    }
  }
  return soundAllowed();
}

export function soundAllowed() {
  return Boolean(context && context.state === "running");
}

/** One alert: the beeps (when the browser lets them play) and the vibration pattern. */
export function ring(pattern) {
  const ctx = audio();
  if (ctx && ctx.state === "running") {
    const now = ctx.currentTime;
    for (const [start, length, frequency] of BEEPS) {
      const tone = ctx.createOscillator();
      const volume = ctx.createGain();
      tone.type = "square";
      tone.frequency.value = frequency;
      volume.gain.setValueAtTime(0.0001, now + start);
      volume.gain.exponentialRampToValueAtTime(0.2, now + start + 0.02);
      volume.gain.exponentialRampToValueAtTime(0.0001, now + start + length);
      tone.connect(volume).connect(ctx.destination);
      tone.start(now + start);
      tone.stop(now + start + length + 0.02);
    }
    demoHooks.audioPlays += 1;
  } else {
    if (ctx) ctx.resume().catch(() => {});
    demoHooks.audioBlocked += 1;
  }
  if (Array.isArray(pattern) && pattern.length) {
    demoHooks.vibrations.push([...pattern]);
    if (typeof navigator.vibrate === "function") navigator.vibrate(pattern);
  }
}

/**
 * Ring now and every `everyMs` until `stop()` is called (the offer was seen, taken, answered).
 * Returns `stop`.
 */
export function repeat(pattern, everyMs = 3_000) {
  ring(pattern);
  const timer = setInterval(() => ring(pattern), everyMs);
  return () => {
    clearInterval(timer);
    if (typeof navigator.vibrate === "function") navigator.vibrate(0);
  };
}
