// Small helpers of the console's panels.
import { money as yuan, t } from "../shared/i18n.js";

/** The words for `prefix.value`, or the value itself when there are none (a kind added later). */
export function label(prefix, value) {
  const key = `${prefix}.${value}`;
  const text = t(key);
  return text === key ? String(value).replaceAll("_", " ") : text;
}

export const money = yuan;

/** "12.5" (yuan, as typed) → 1250 cents; null when empty or not a positive amount. */
export function yuanToCents(text) {
  const value = Number.parseFloat(String(text || "").replace(",", "."));
  if (!Number.isFinite(value) || value <= 0) return null;
  return Math.round(value * 100);
}

/** The first characters of an id, enough to tell bookings apart on screen. */
export function short(id) {
  return id ? String(id).slice(0, 8) : "";
}
