// The worker app: go online or on leave, answer offers (full screen, a countdown, sound and
// vibration), do the job step by step with a position, today's schedule with navigation, income
// and payouts, chat with the customer, notifications. Element ids are listed in ../README.md.
import { boot } from "../shared/boot.js";
import { addStrings, money, pick, t, timeOf, when } from "../shared/i18n.js";
import { $, currentPosition, fill, h, showError, toast, txt } from "../shared/ui.js";
import { demoHooks, prepare, repeat, soundAllowed, unlock } from "./alert.js";
import { Reviews } from "./reviews.js";

const ROLE = "worker";
const LOCATION_EVERY_MS = 3_000; // job:location while on the way (the hub forwards one per interval)
const SIMULATED_TRIP_MS = 60_000; // a manual position walks to the address in about a minute
const TICK_MS = 250;
const ACTIVE = ["accepted", "on_the_way", "arrived", "in_service"];

const state = {
  session: null,
  hub: null,
  me: null,
  profile: null,
  status: null, // online | on_leave | busy
  offers: new Map(), // offer id -> {offer, deadline (ms, this clock), seen, stopRinging}
  shownOffer: null,
  schedule: [],
  scheduleView: "day",
  job: null, // the booking on the job card
  conversations: new Map(), // conversation id -> conversation
  position: { source: "manual", lat: null, lng: null },
  trip: null, // a simulated trip: {from, to, startedAt}
  locationTimer: null,
};
demoHooks.offersSeen = [];

async function main() {
  prepare();
  const hub = await boot({
    role: ROLE,
    title: "worker.title",
    views: () => [
      h(
        "section",
        { id: "view-jobs" },
        statusCard(),
        h("div", { id: "current-job", class: "card", hidden: true }),
        h(
          "div",
          { class: "card" },
          h(
            "div",
            { class: "row spread" },
            h("h2", { "data-i18n": "worker.schedule" }),
            h("button", { id: "schedule-view", type: "button", class: "ghost", onclick: toggleScheduleView }, ""),
          ),
          h("ul", { id: "schedule", class: "list" }),
        ),
        h("div", { id: "my-reviews", class: "card" }),
      ),
      h(
        "section",
        { id: "view-chat" },
        h("div", { class: "card" }, h("h2", { "data-i18n": "worker.chats" }), h("ul", { id: "conversations", class: "list" })),
        h("div", { id: "chat" }),
      ),
      h("section", { id: "view-income" }, incomeView()),
      h("section", { id: "view-inbox" }),
    ],
    extra: [offerCard()],
    onTab: (name) => name === "income" && loadIncome(),
    onLang: () => {
      renderStatus();
      renderSchedule();
      renderJob();
      renderConversations();
      renderOffer();
    },
    chatTitle: conversationTitle,
    onChats: renderConversations,
    refresh: refreshAll,
    hooks: demoHooks,
  }, state);
  new Reviews(hub, $("#my-reviews"));
  hub.on("offer", (offer) => addOffer(offer));
  for (const gone of ["offer:taken", "offer:expired", "offer:withdrawn"]) {
    hub.on(gone, (data) => offerGone(data.offer_id, gone));
  }
  hub.on("booking:updated", ({ booking }) => bookingChanged(booking));
  document.addEventListener("visibilitychange", showNextOffer);
  document.addEventListener("pointerdown", () => unlock().then(updateSoundButton), { once: false, passive: true });
  setInterval(tick, TICK_MS);
}

// The page ----------------------------------------------------------------------------------

function statusCard() {
  return h(
    "div",
    { id: "status-card", class: "card" },
    h(
      "div",
      { class: "row spread" },
      h("div", {}, h("span", { "data-i18n": "worker.my_status" }), " ", h("strong", { id: "my-status", "data-status": "" }, "…")),
      h("button", { id: "status-toggle", type: "button", class: "primary", onclick: toggleStatus, disabled: true }, "…"),
    ),
    h("div", { id: "availability", class: "muted" }),
    h("button", { id: "enable-sound", type: "button", class: "ghost", hidden: true, onclick: () => unlock().then(updateSoundButton), "data-i18n": "worker.enable_sound" }),
  );
}

// Status and availability --------------------------------------------------------------------

async function refreshAll() {
  await Promise.all([loadProfile(), loadSchedule(), loadOffers(), loadConversations()]);
  if (state.job) await loadJob(state.job.id);
}

async function loadProfile() {
  const answer = await state.hub.api("GET", "/api/v1/workers/me");
  if (!answer.ok) return showError(answer.error);
  state.profile = answer.data;
  if (state.status !== "busy") state.status = answer.data.on_leave ? "on_leave" : "online";
  if (state.position.lat === null) setPosition(answer.data.area.lat, answer.data.area.lng);
  renderStatus();
}

async function toggleStatus() {
  await unlock();
  updateSoundButton();
  const wanted = state.status === "on_leave" ? "online" : "on_leave";
  const answer = await state.hub.call("presence:set", { status: wanted });
  if (!answer.ok) return showError(answer.error);
  state.status = answer.data.status;
  renderStatus();
}

function renderStatus() {
  const status = $("#my-status");
  if (!status || !state.profile) return;
  status.dataset.status = state.status;
  status.textContent = t(`presence.${state.status}`);
  const button = $("#status-toggle");
  button.disabled = false;
  button.dataset.next = state.status === "on_leave" ? "online" : "on_leave";
  button.textContent = t(state.status === "on_leave" ? "worker.go_online" : "worker.go_on_leave");
  const p = state.profile;
  const expiring = p.certificates.filter((c) => !c.expired && daysUntil(c.expires_on) <= 30);
  fill(
    $("#availability"),
    h("p", { id: "eligible", "data-eligible": String(p.eligible) }, t(p.eligible ? "worker.eligible" : "worker.not_eligible", { vetting: p.vetting_status })),
    h("p", {}, t("worker.skills", { skills: p.skills.map((s) => t(`skill.${s}`)).join(t("list.sep")) })),
    h("p", {}, t("worker.area", { km: p.area.radius_km })),
    expiring.map((c) => h("p", { class: "pill warn" }, t("worker.cert_expiring", { what: c.skill ? t(`skill.${c.skill}`) : t("worker.health_cert"), day: c.expires_on }))),
    state.status === "on_leave" ? h("p", { class: "pill warn" }, t("worker.no_offers_on_leave")) : null,
  );
  updateSoundButton();
}

function updateSoundButton() {
  const button = $("#enable-sound");
  if (button) button.hidden = soundAllowed();
  const cardButton = $("#offer-sound");
  if (cardButton) cardButton.hidden = soundAllowed();
}

function daysUntil(day) {
  return (new Date(`${day}T00:00:00`) - new Date()) / 86_400_000;
}

// Offers ------------------------------------------------------------------------------------

function offerCard() {
  return h(
    "div",
    { id: "offer-card", class: "overlay", hidden: true, role: "alertdialog", "aria-labelledby": "offer-title" },
    h("div", { class: "row spread" }, h("h2", { id: "offer-title", "data-i18n": "offer.title" }), h("span", { id: "offer-wave", class: "pill" })),
    h("div", { id: "offer-countdown", class: "countdown" }, "--:--"),
    h("div", { id: "offer-service", class: "pay" }),
    h("div", { id: "offer-slot" }),
    h("div", { id: "offer-address" }),
    h("div", { id: "offer-distance", class: "muted" }),
    h("div", { id: "offer-requests", class: "muted" }),
    h("div", { id: "offer-pay", class: "pay" }),
    h("div", { id: "offer-queue", class: "muted" }),
    h("p", { id: "offer-result", role: "status" }),
    h("button", { id: "offer-sound", type: "button", class: "ghost", hidden: true, onclick: () => unlock().then(updateSoundButton), "data-i18n": "worker.enable_sound" }),
    h(
      "div",
      { class: "actions" },
      h("button", { id: "decline-offer", type: "button", onclick: declineOffer, "data-i18n": "offer.decline" }),
      h("button", { id: "accept-offer", type: "button", class: "primary", onclick: acceptOffer, "data-i18n": "offer.accept" }),
    ),
  );
}

async function loadOffers() {
  const answer = await state.hub.call("offer:list");
  if (!answer.ok) return;
  const open = new Set(answer.data.items.map((o) => o.offer_id));
  // What ended while this page was away is gone; what is open is (still) here.
  for (const id of [...state.offers.keys()]) if (!open.has(id)) offerGone(id, "offer:expired");
  for (const offer of answer.data.items) addOffer(offer);
}

function addOffer(offer) {
  const known = state.offers.get(offer.offer_id);
  const deadline = Date.now() + offer.seconds_left * 1000; // the hub's seconds left, on this clock
  if (known) {
    known.deadline = deadline;
    known.offer = offer;
    return; // sent again on reconnect: it is already ringing or seen
  }
  const entry = { offer, deadline, seen: false, stopRinging: null };
  state.offers.set(offer.offer_id, entry);
  const alert = offer.alert || {};
  // Ring until the offer is seen: on a page in view it is seen as soon as it is on the card; on a
  // page out of view (another tab, a locked phone) it rings until the worker comes back. An offer
  // queued behind the one on the card rings once, and is seen when its turn comes.
  const queued = document.visibilityState === "visible" && state.shownOffer !== null;
  if (alert.repeat_until_seen === false || queued) {
    repeat(alert.vibrate || [])();
    entry.stopRinging = () => {};
  } else {
    entry.stopRinging = repeat(alert.vibrate || []);
  }
  showNextOffer();
}

function showNextOffer() {
  const next = state.shownOffer && state.offers.has(state.shownOffer) ? state.offers.get(state.shownOffer) : [...state.offers.values()][0];
  const card = $("#offer-card");
  if (!next) {
    state.shownOffer = null;
    card.hidden = true;
    return;
  }
  state.shownOffer = next.offer.offer_id;
  card.hidden = false;
  card.dataset.offerId = next.offer.offer_id;
  card.dataset.bookingId = next.offer.booking_id;
  $("#offer-result").textContent = "";
  for (const id of ["#accept-offer", "#decline-offer"]) $(id).disabled = false;
  renderOffer();
  if (document.visibilityState === "visible" && !next.seen) markSeen(next);
}

async function markSeen(entry) {
  entry.seen = true;
  entry.stopRinging?.();
  demoHooks.offersSeen.push(entry.offer.offer_id);
  const answer = await state.hub.call("offer:seen", { offer_id: entry.offer.offer_id });
  if (!answer.ok && answer.error.code !== "offer_not_found") showError(answer.error);
}

function renderOffer() {
  const entry = state.offers.get(state.shownOffer);
  if (!entry) return;
  const { order, wave, chosen } = entry.offer;
  $("#offer-wave").textContent = chosen ? t("offer.chosen") : t("offer.wave", { wave });
  $("#offer-service").textContent = pick(order.service, "name");
  $("#offer-slot").textContent = `${when(order.slot_start, { dateStyle: "medium", timeStyle: "short" })} – ${timeOf(order.slot_end)} · ${t("offer.minutes", { minutes: order.duration_minutes })}`;
  $("#offer-address").textContent = [order.address.label, order.address.line, order.address.city].filter(Boolean).join(" · ");
  $("#offer-distance").textContent = t("offer.distance", { km: order.distance_km?.toFixed?.(1) ?? order.distance_km });
  $("#offer-requests").textContent = order.special_requests ? t("offer.requests", { text: order.special_requests }) : "";
  $("#offer-pay").textContent = t("offer.pay", { pay: money(order.pay_cents) });
  const others = state.offers.size - 1;
  $("#offer-queue").textContent = others > 0 ? t("offer.more", { n: others }) : "";
  updateSoundButton();
  tick();
}

function tick() {
  const entry = state.offers.get(state.shownOffer);
  const countdown = $("#offer-countdown");
  if (!entry || !countdown) return;
  const left = Math.max(0, Math.round((entry.deadline - Date.now()) / 1000));
  countdown.dataset.secondsLeft = String(left);
  countdown.dataset.urgent = String(left <= 15);
  countdown.textContent = `${String(Math.floor(left / 60)).padStart(2, "0")}:${String(left % 60).padStart(2, "0")}`;
  if (left === 0 && !entry.ended) {
    entry.ended = true;
    setTimeout(() => offerGone(entry.offer.offer_id, "offer:expired"), 1_500); // the hub says so too
  }
}

function offerGone(offerId, why) {
  const entry = state.offers.get(offerId);
  if (!entry) return;
  entry.stopRinging?.();
  state.offers.delete(offerId);
  if (state.shownOffer === offerId) {
    toast(t(`offer.gone.${why}`));
    state.shownOffer = null;
  }
  showNextOffer();
}

async function acceptOffer() {
  const entry = state.offers.get(state.shownOffer);
  if (!entry) return;
  for (const id of ["#accept-offer", "#decline-offer"]) $(id).disabled = true;
  const answer = await state.hub.call("offer:accept", { offer_id: entry.offer.offer_id });
  if (!answer.ok) {
    $("#offer-result").textContent = t(`offer.error.${answer.error.code}`) || answer.error.message;
    setTimeout(() => offerGone(entry.offer.offer_id, "answered"), 2_000);
    return;
  }
  entry.stopRinging?.();
  state.offers.delete(entry.offer.offer_id);
  state.shownOffer = null;
  showNextOffer();
  toast(t("offer.accepted"));
  state.job = answer.data.booking;
  await Promise.all([loadSchedule(), loadConversations()]);
  renderJob();
  state.showTab("jobs");
}

async function declineOffer() {
  const entry = state.offers.get(state.shownOffer);
  if (!entry) return;
  for (const id of ["#accept-offer", "#decline-offer"]) $(id).disabled = true;
  const answer = await state.hub.call("offer:decline", { offer_id: entry.offer.offer_id });
  if (!answer.ok && answer.error.code !== "offer_not_found") showError(answer.error);
  offerGone(entry.offer.offer_id, "answered");
}

// The schedule ---------------------------------------------------------------------------------

function localDay(offsetDays = 0) {
  const moment = new Date(Date.now() + offsetDays * 86_400_000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(moment); // YYYY-MM-DD
}

async function loadSchedule() {
  // The next seven days: the job card picks the job under way or the next one from them.
  const answer = await state.hub.api("GET", `/api/v1/workers/me/schedule?from=${localDay()}&to=${localDay(6)}`);
  if (!answer.ok) return showError(answer.error);
  state.schedule = answer.data.days;
  const working = state.schedule.flatMap((d) => d.jobs).some((j) => ["on_the_way", "arrived", "in_service"].includes(j.status));
  if (working) state.status = "busy";
  else if (state.status === "busy") state.status = state.profile?.on_leave ? "on_leave" : "online";
  renderStatus();
  if (!state.job) {
    const jobs = state.schedule.flatMap((d) => d.jobs);
    const next = jobs.find((j) => ACTIVE.includes(j.status) && j.status !== "accepted") || jobs.find((j) => j.status === "accepted");
    if (next) await loadJob(next.booking_id);
  }
  renderSchedule();
}

function toggleScheduleView() {
  state.scheduleView = state.scheduleView === "day" ? "week" : "day";
  renderSchedule();
}

function renderSchedule() {
  const list = $("#schedule");
  if (!list) return;
  $("#schedule-view").textContent = t(state.scheduleView === "day" ? "worker.show_week" : "worker.show_today");
  const days = state.schedule.filter((d) => d.jobs.length && (state.scheduleView === "week" || d.date === localDay()));
  if (!days.length) return fill(list, h("li", { class: "muted", id: "schedule-empty" }, t("worker.no_jobs")));
  fill(
    list,
    days.map((day) => [
      state.scheduleView === "week" ? h("li", { class: "muted" }, when(`${day.date}T12:00:00+08:00`, { weekday: "long", month: "short", day: "numeric" })) : null,
      day.jobs.map((job) =>
        h(
          "li",
          { class: "job", dataset: { bookingId: job.booking_id, status: job.status } },
          h(
            "div",
            { class: "row spread" },
            h("strong", {}, `${job.local_start} ${pick(job.service, "name")}`),
            h("span", { class: "pill" }, t(`status.${job.status}`)),
          ),
          h("div", {}, [job.address.label, job.address.line].filter(Boolean).join(" · ")),
          h("div", { class: "muted" }, money(job.pay_cents)),
          h(
            "div",
            { class: "row" },
            h("a", { class: "nav-amap", href: job.navigation.amap_web, target: "_blank", rel: "noopener" }, t("worker.nav_amap")),
            h("a", { class: "nav-baidu", href: job.navigation.baidu_web, target: "_blank", rel: "noopener" }, t("worker.nav_baidu")),
            h("button", { type: "button", class: "ghost open-job", onclick: () => loadJob(job.booking_id).then(() => window.scrollTo(0, 0)) }, t("worker.open_job")),
          ),
        ),
      ),
    ]),
  );
}

// The job -------------------------------------------------------------------------------------

async function loadJob(bookingId) {
  const answer = await state.hub.api("GET", `/api/v1/bookings/${bookingId}`);
  if (!answer.ok) return showError(answer.error);
  state.job = answer.data;
  renderJob();
}

function bookingChanged(booking) {
  if (state.job && state.job.id === booking.id) {
    state.job = { ...state.job, ...booking };
    renderJob();
  }
  if (booking.worker_id !== state.me.id && state.job?.id === booking.id) {
    toast(t("worker.job_taken_away"), "error"); // re-dispatched by support
    state.job = null;
    renderJob();
  }
  loadSchedule();
}

function jobNavigation() {
  const job = state.job;
  const found = state.schedule.flatMap((d) => d.jobs).find((j) => j.booking_id === job.id);
  return found?.navigation;
}

function renderJob() {
  const card = $("#current-job");
  const job = state.job;
  if (!card) return;
  if (!job) {
    card.hidden = true;
    stopLocation();
    return;
  }
  card.hidden = false;
  card.dataset.bookingId = job.id;
  const nav = jobNavigation();
  const steps = {
    accepted: h(
      "div",
      { class: "row" },
      h("label", { class: "grow" }, h("span", {}, t("job.eta")), h("input", { id: "job-eta", type: "number", min: 0, max: 1440, value: etaGuess() })),
      h("button", { id: "job-depart", type: "button", class: "primary", onclick: depart }, t("job.depart")),
    ),
    on_the_way: h("button", { id: "job-arrive", type: "button", class: "primary", onclick: arrive }, t("job.arrive")),
    arrived: h("button", { id: "job-start", type: "button", class: "primary", onclick: () => step("job:start") }, t("job.start")),
    in_service: h("button", { id: "job-finish", type: "button", class: "primary", onclick: () => step("job:finish") }, t("job.finish")),
  };
  fill(
    card,
    h("div", { class: "row spread" }, h("h2", {}, t("job.title")), h("span", { id: "job-status", class: "pill", "data-status": job.status }, t(`status.${job.status}`))),
    h("p", {}, h("strong", {}, pick(job.service, "name")), " · ", when(job.slot_start), " – ", timeOf(job.slot_end)),
    h("p", { id: "job-address" }, [job.address.label, job.address.line, job.address.city].filter(Boolean).join(" · ")),
    job.special_requests ? h("p", { class: "muted" }, t("offer.requests", { text: job.special_requests })) : null,
    job.eta_at && job.status === "on_the_way" ? h("p", { id: "job-eta-at" }, t("job.eta_at", { time: timeOf(job.eta_at) })) : null,
    job.arrival_flagged ? h("p", { class: "pill warn" }, t("job.flagged", { m: job.arrival_distance_m })) : null,
    nav
      ? h(
          "div",
          { class: "row" },
          h("a", { id: "job-nav-amap", href: nav.amap_web, target: "_blank", rel: "noopener" }, t("worker.nav_amap")),
          h("a", { id: "job-nav-baidu", href: nav.baidu_web, target: "_blank", rel: "noopener" }, t("worker.nav_baidu")),
          h("a", { id: "job-nav-amap-app", href: nav.amap }, t("worker.nav_app")),
        )
      : null,
    ACTIVE.includes(job.status) ? positionControls() : null,
    h("div", { id: "job-step" }, steps[job.status] || h("p", { class: "muted" }, t(`status.${job.status}`))),
    h("div", { class: "row" }, h("button", { id: "job-chat", type: "button", class: "ghost", onclick: openJobChat }, t("job.chat"))),
  );
  if (job.status === "on_the_way") startLocation();
  else stopLocation();
}

function etaGuess() {
  const job = state.job;
  if (!job || state.position.lat === null) return 15;
  const km = distanceKm(state.position, job.address);
  return Math.max(5, Math.round((km / 20) * 60)); // city speed, as the hub estimates
}

function positionControls() {
  const source = h(
    "select",
    { id: "position-source" },
    h("option", { value: "manual", selected: state.position.source === "manual" }, t("position.manual")),
    h("option", { value: "browser", selected: state.position.source === "browser" }, t("position.browser")),
  );
  source.addEventListener("change", async () => {
    state.position.source = source.value;
    if (source.value === "browser") {
      const here = await currentPosition();
      if (here) setPosition(here.lat, here.lng);
      else {
        toast(t("position.unavailable"), "error");
        state.position.source = "manual";
      }
    }
    renderJob();
  });
  const lat = h("input", { id: "manual-lat", type: "number", step: "0.000001", value: state.position.lat ?? "" });
  const lng = h("input", { id: "manual-lng", type: "number", step: "0.000001", value: state.position.lng ?? "" });
  const manual = state.position.source === "manual";
  const apply = () => setPosition(Number(lat.value), Number(lng.value));
  lat.addEventListener("change", apply);
  lng.addEventListener("change", apply);
  return h(
    "details",
    { id: "position", open: false },
    h("summary", {}, t("position.title"), " ", h("span", { id: "position-now", class: "muted" }, formatPosition())),
    h("label", {}, h("span", {}, t("position.source")), source),
    manual
      ? h(
          "div",
          {},
          h("div", { class: "row" }, h("label", { class: "grow" }, h("span", {}, "lat"), lat), h("label", { class: "grow" }, h("span", {}, "lng"), lng)),
          h(
            "div",
            { class: "row" },
            h("button", { id: "position-at-address", type: "button", class: "ghost", onclick: () => setPosition(state.job.address.lat, state.job.address.lng) }, t("position.at_address")),
            h("button", { id: "position-at-base", type: "button", class: "ghost", onclick: () => setPosition(state.profile.area.lat, state.profile.area.lng) }, t("position.at_base")),
          ),
          h("label", {}, h("input", { id: "simulate-travel", type: "checkbox", checked: state.simulate !== false, onchange: (e) => (state.simulate = e.target.checked) }), " ", t("position.simulate")),
        )
      : null,
  );
}

function setPosition(lat, lng) {
  if (!Number.isFinite(lat) || !Number.isFinite(lng)) return;
  state.position.lat = lat;
  state.position.lng = lng;
  const now = $("#position-now");
  if (now) now.textContent = formatPosition();
  const latInput = $("#manual-lat");
  const lngInput = $("#manual-lng");
  if (latInput && document.activeElement !== latInput) latInput.value = lat.toFixed(6);
  if (lngInput && document.activeElement !== lngInput) lngInput.value = lng.toFixed(6);
}

function formatPosition() {
  const { lat, lng } = state.position;
  return lat === null ? "" : `${lat.toFixed(5)}, ${lng.toFixed(5)}`;
}

async function position() {
  if (state.position.source === "browser") {
    const here = await currentPosition();
    if (here) setPosition(here.lat, here.lng);
  }
  return { lat: state.position.lat, lng: state.position.lng };
}

async function depart() {
  const eta = Number($("#job-eta").value);
  const here = await position();
  const answer = await state.hub.call("job:depart", { booking_id: state.job.id, ...here, eta_minutes: Number.isFinite(eta) ? Math.max(0, Math.min(1440, Math.round(eta))) : 15 });
  if (!answer.ok) return showError(answer.error);
  state.job = answer.data.booking;
  state.status = "busy";
  renderStatus();
  if (state.position.source === "manual" && state.simulate !== false) {
    state.trip = { from: { ...here }, to: { lat: state.job.address.lat, lng: state.job.address.lng }, startedAt: Date.now() };
  }
  renderJob();
}

async function arrive() {
  state.trip = null;
  const here = await position();
  const answer = await state.hub.call("job:arrive", { booking_id: state.job.id, ...here });
  if (!answer.ok) return showError(answer.error);
  state.job = answer.data.booking;
  if (answer.data.outside_geofence) toast(t("job.flagged", { m: state.job.arrival_distance_m }), "error");
  renderJob();
}

async function step(event) {
  const answer = await state.hub.call(event, { booking_id: state.job.id });
  if (!answer.ok) return showError(answer.error);
  state.job = answer.data.booking;
  if (event === "job:finish") {
    toast(t("job.finished"));
    loadProfile();
  }
  renderJob();
  loadSchedule();
}

function startLocation() {
  if (state.locationTimer) return;
  state.locationTimer = setInterval(sendLocation, LOCATION_EVERY_MS);
}

function stopLocation() {
  clearInterval(state.locationTimer);
  state.locationTimer = null;
}

async function sendLocation() {
  if (!state.job || state.job.status !== "on_the_way") return stopLocation();
  if (state.trip) {
    const done = Math.min(1, (Date.now() - state.trip.startedAt) / SIMULATED_TRIP_MS);
    const { from, to } = state.trip;
    setPosition(from.lat + (to.lat - from.lat) * done, from.lng + (to.lng - from.lng) * done);
  }
  const here = await position();
  if (here.lat === null) return;
  await state.hub.call("job:location", { booking_id: state.job.id, ...here });
}

function distanceKm(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const x = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 6371 * 2 * Math.asin(Math.sqrt(x));
}

// Chat with customers ------------------------------------------------------------------------

async function loadConversations() {
  const answer = await state.hub.call("conversations:list");
  if (!answer.ok) return;
  state.conversations.clear();
  for (const c of answer.data.items) {
    if (c.kind !== "booking") continue;
    state.conversations.set(c.id, c);
    state.chat.setUnread(c.id, c.unread || 0);
  }
  renderConversations();
}

function conversationTitle(id) {
  const c = state.conversations.get(id);
  if (!c) return "";
  const job = state.schedule.flatMap((d) => d.jobs).find((j) => j.booking_id === c.booking_id);
  return job ? `${job.local_start} ${pick(job.service, "name")} · ${c.customer_id}` : t("worker.chat_with", { customer: c.customer_id });
}

function renderConversations() {
  const list = $("#conversations");
  if (!list) return;
  if (!state.conversations.size) return fill(list, h("li", { class: "muted" }, t("worker.no_chats")));
  fill(
    list,
    [...state.conversations.values()].map((c) => {
      const unread = state.chat.unread.get(c.id) || 0;
      return h(
        "li",
        { class: "conversation", dataset: { conversationId: c.id, bookingId: c.booking_id || "" }, onclick: () => state.chat.open(c.id) },
        h("div", { class: "row spread" }, h("span", {}, conversationTitle(c.id)), unread ? h("span", { class: "badge" }, String(unread)) : null),
      );
    }),
  );
}

async function openJobChat() {
  let conversation = [...state.conversations.values()].find((c) => c.booking_id === state.job.id);
  if (!conversation) {
    await loadConversations();
    conversation = [...state.conversations.values()].find((c) => c.booking_id === state.job.id);
  }
  if (!conversation) return toast(t("worker.no_chats"), "error");
  state.showTab("chat");
  state.chat.open(conversation.id);
}

// Income --------------------------------------------------------------------------------------

function incomeView() {
  const method = h(
    "select",
    { id: "payout-method", name: "method" },
    ["bank_card", "alipay", "wechat"].map((m) => txt("option", `payout.${m}`, { value: m })),
  );
  const form = h(
    "form",
    { id: "payout-settings-form" },
    h("label", {}, txt("span", "payout.method"), method),
    h("label", {}, txt("span", "payout.account_name"), h("input", { id: "payout-account-name", name: "account_name", required: true })),
    h("label", {}, txt("span", "payout.account_no"), h("input", { id: "payout-account-no", name: "account_no", required: true })),
    h("label", {}, txt("span", "payout.bank_name"), h("input", { id: "payout-bank-name", name: "bank_name" })),
    h(
      "label",
      {},
      txt("span", "payout.period"),
      h("select", { id: "payout-period", name: "period" }, txt("option", "payout.weekly", { value: "weekly" }), txt("option", "payout.monthly", { value: "monthly" })),
    ),
    txt("button", "common.save", { id: "save-payout-settings", type: "submit", class: "primary" }),
  );
  form.addEventListener("submit", savePayoutSettings);
  const ask = h(
    "form",
    { id: "payout-form", class: "row" },
    h("input", { id: "payout-amount", type: "number", min: "0.01", step: "0.01", required: true, placeholder: "¥" }),
    txt("button", "payout.request", { id: "request-payout", type: "submit", class: "primary" }),
  );
  ask.addEventListener("submit", requestPayout);
  return [
    h("div", { id: "balance", class: "card" }, t("common.loading")),
    h("div", { class: "card" }, txt("h2", "income.last7"), h("ul", { id: "income-summary", class: "list" })),
    h("div", { class: "card" }, txt("h2", "income.jobs"), h("ul", { id: "income-list", class: "list" })),
    h("div", { class: "card" }, txt("h2", "income.statements"), h("ul", { id: "statements", class: "list" })),
    h("div", { class: "card" }, txt("h2", "payout.title"), h("p", { id: "payout-account", class: "muted" }), ask, h("ul", { id: "payouts", class: "list" })),
    h("details", { class: "card" }, txt("summary", "payout.settings"), form),
  ];
}

async function loadIncome() {
  const hub = state.hub;
  const [balance, summary, income, statements, payouts, settings] = await Promise.all([
    hub.api("GET", "/api/v1/workers/me/balance"),
    hub.api("GET", `/api/v1/workers/me/income/summary?period=day&from=${localDay(-6)}&to=${localDay()}`),
    hub.api("GET", "/api/v1/workers/me/income?limit=20"),
    hub.api("GET", "/api/v1/workers/me/statements"),
    hub.api("GET", "/api/v1/workers/me/payouts"),
    hub.api("GET", "/api/v1/workers/me/payout-settings"),
  ]);
  if (balance.ok) {
    const b = balance.data;
    fill(
      $("#balance"),
      h("h2", {}, t("income.balance")),
      h("p", { class: "pay", id: "balance-available", "data-cents": b.available_cents }, money(b.available_cents)),
      h("p", { class: "muted" }, t("income.balance_detail", { owed: money(b.owed_cents), flight: money(b.in_flight_cents), pending: money(b.pending_settlement_cents) })),
    );
    $("#payout-amount").max = (b.available_cents / 100).toFixed(2);
  }
  if (summary.ok) {
    fill(
      $("#income-summary"),
      summary.data.buckets.map((bucket) =>
        h("li", { class: "row spread", dataset: { period: bucket.period } }, h("span", {}, bucket.period), h("span", {}, t("income.bucket", { n: bucket.bookings, earned: money(bucket.earned_cents) }))),
      ),
      h("li", { class: "row spread" }, h("strong", {}, t("income.total")), h("strong", { id: "income-total" }, money(summary.data.totals.earned_cents))),
    );
  }
  if (income.ok) {
    fill(
      $("#income-list"),
      income.data.items.length
        ? income.data.items.map((item) =>
            h(
              "li",
              { dataset: { bookingId: item.booking_id } },
              h("div", { class: "row spread" }, h("span", {}, `${item.completed_on} ${pick(item, "service_name")}`), h("strong", {}, money(item.earned_cents))),
              h("small", {}, t("income.line", { gross: money(item.gross_cents), pct: item.commission_pct, settled: t(item.settled ? "income.settled" : "income.unsettled") })),
            ),
          )
        : h("li", { class: "muted" }, t("common.empty")),
    );
  }
  if (statements.ok) {
    fill(
      $("#statements"),
      statements.data.items.length
        ? statements.data.items.map((s) => h("li", { class: "row spread" }, h("span", {}, `${s.period} · ${t("income.bucket", { n: s.bookings, earned: money(s.net_cents) })}`), h("small", {}, `${s.starts_on} – ${s.ends_on}`)))
        : h("li", { class: "muted" }, t("common.empty")),
    );
  }
  if (payouts.ok) {
    fill(
      $("#payouts"),
      payouts.data.items.map((p) =>
        h("li", { class: "row spread", dataset: { payoutId: p.id, status: p.status } }, h("span", {}, `${when(p.created_at)} ${money(p.amount_cents)}`), h("span", { class: "pill" }, t(`payout.status.${p.status}`))),
      ),
    );
  }
  if (settings.ok) {
    const account = settings.data.account;
    $("#payout-account").textContent = account ? `${t(`payout.${account.method}`)} · ${account.account_name} · ${account.account_no}` : t("payout.no_account");
    $("#payout-period").value = settings.data.period;
    if (account) $("#payout-method").value = account.method;
  }
}

async function savePayoutSettings(event) {
  event.preventDefault();
  const body = {
    period: $("#payout-period").value,
    method: $("#payout-method").value,
    account_name: $("#payout-account-name").value.trim(),
    account_no: $("#payout-account-no").value.trim(),
  };
  const bank = $("#payout-bank-name").value.trim();
  if (bank) body.bank_name = bank;
  const answer = await state.hub.api("PUT", "/api/v1/workers/me/payout-settings", body);
  if (!answer.ok) return showError(answer.error);
  toast(t("payout.saved"));
  loadIncome();
}

async function requestPayout(event) {
  event.preventDefault();
  const cents = Math.round(Number($("#payout-amount").value) * 100);
  if (!(cents > 0)) return;
  const answer = await state.hub.api("POST", "/api/v1/workers/me/payouts", { amount_cents: cents }, { idempotencyKey: crypto.randomUUID() });
  if (!answer.ok) return showError(answer.error);
  toast(t("payout.requested", { amount: money(cents) }));
  $("#payout-amount").value = "";
  loadIncome();
}

// Strings -------------------------------------------------------------------------------------

addStrings({
  en: {
    "worker.title": "Worker",
    "list.sep": ", ",
    "tab.jobs": "Jobs",
    "tab.chat": "Chat",
    "tab.income": "Income",
    "tab.inbox": "Inbox",
    "worker.my_status": "My status:",
    "presence.online": "Online",
    "presence.on_leave": "On leave",
    "presence.busy": "Busy (on a job)",
    "presence.offline": "Offline",
    "worker.go_online": "Go online",
    "worker.go_on_leave": "Go on leave",
    "worker.no_offers_on_leave": "On leave: no offers come.",
    "worker.eligible": "Can be offered jobs today.",
    "worker.not_eligible": "Cannot be offered jobs today (vetting: {vetting}, or a certificate is missing or expired).",
    "worker.skills": "Skills: {skills}",
    "worker.area": "Service area: {km} km around my base",
    "worker.cert_expiring": "Certificate ({what}) expires on {day}",
    "worker.health_cert": "health",
    "worker.enable_sound": "🔔 Tap to turn on the offer sound",
    "worker.schedule": "Schedule",
    "worker.show_week": "Next 7 days",
    "worker.show_today": "Today",
    "worker.no_jobs": "No jobs today.",
    "worker.open_job": "Open",
    "worker.nav_amap": "Amap",
    "worker.nav_baidu": "Baidu Maps",
    "worker.nav_app": "Open the map app",
    "worker.chats": "Customers",
    "worker.no_chats": "No conversations yet: accept a job.",
    "worker.chat_with": "Customer {customer}",
    "worker.job_taken_away": "Support gave this job to someone else.",
    "offer.title": "New job offer",
    "offer.wave": "Wave {wave}",
    "offer.chosen": "The customer chose you",
    "offer.minutes": "{minutes} min",
    "offer.distance": "{km} km from your base",
    "offer.requests": "Requests: {text}",
    "offer.pay": "You earn about {pay}",
    "offer.more": "{n} more offer(s) waiting",
    "offer.accept": "Accept",
    "offer.decline": "Decline",
    "offer.accepted": "Accepted: the job is yours.",
    "offer.gone.offer:taken": "Another worker took that job.",
    "offer.gone.offer:expired": "The offer expired.",
    "offer.gone.offer:withdrawn": "The customer cancelled.",
    "offer.gone.answered": "Answered.",
    "offer.error.offer_taken": "Too late: another worker took it.",
    "offer.error.offer_expired": "Too late: the offer expired.",
    "offer.error.offer_withdrawn": "The booking was cancelled.",
    "offer.error.offer_declined": "You declined it already.",
    "offer.error.offer_not_found": "This offer is gone.",
    "job.title": "Current job",
    "job.eta": "Minutes to get there",
    "job.eta_at": "Expected at {time}",
    "job.depart": "Set off",
    "job.arrive": "I have arrived",
    "job.start": "Start the service",
    "job.finish": "Finish",
    "job.finished": "Done. Well done!",
    "job.chat": "Chat with the customer",
    "job.flagged": "Arrival reported {m} m from the address: support was told.",
    "position.title": "Position",
    "position.source": "Where am I",
    "position.manual": "Set by hand",
    "position.browser": "This device's location",
    "position.unavailable": "The browser did not give a position; set it by hand.",
    "position.at_address": "At the job's address",
    "position.at_base": "At my base",
    "position.simulate": "Walk there by myself after setting off (demo)",
    "income.balance": "Available to withdraw",
    "income.balance_detail": "Owed {owed} · in payouts {flight} · not yet settled {pending}",
    "income.last7": "Last 7 days",
    "income.bucket": "{n} job(s) · {earned}",
    "income.total": "Total",
    "income.jobs": "Completed jobs",
    "income.line": "Price {gross}, commission {pct}% · {settled}",
    "income.settled": "settled",
    "income.unsettled": "not settled yet",
    "income.statements": "Statements",
    "payout.title": "Payouts",
    "payout.settings": "Payout account",
    "payout.method": "Paid to",
    "payout.bank_card": "Bank card",
    "payout.alipay": "Alipay",
    "payout.wechat": "WeChat",
    "payout.account_name": "Account holder",
    "payout.account_no": "Account",
    "payout.bank_name": "Bank",
    "payout.period": "Statements",
    "payout.weekly": "Weekly",
    "payout.monthly": "Monthly",
    "payout.request": "Request payout",
    "payout.requested": "Payout of {amount} requested.",
    "payout.saved": "Payout account saved.",
    "payout.no_account": "No payout account yet: set one below.",
    "payout.status.requested": "Requested",
    "payout.status.approved": "Approved",
    "payout.status.paid": "Paid",
    "payout.status.rejected": "Rejected",
    "payout.status.failed": "Failed",
    "skill.daily_cleaning": "daily cleaning",
    "skill.deep_cleaning": "deep cleaning",
    "skill.window_cleaning": "window cleaning",
    "skill.appliance_cleaning": "appliance cleaning",
    "skill.maternity_care": "maternity care",
    "skill.childcare": "childcare",
    "skill.elder_care": "elder care",
  },
  zh: {
    "worker.title": "服务人员",
    "list.sep": "、",
    "tab.jobs": "接单",
    "tab.chat": "聊天",
    "tab.income": "收入",
    "tab.inbox": "消息",
    "worker.my_status": "我的状态：",
    "presence.online": "在线接单",
    "presence.on_leave": "休假中",
    "presence.busy": "服务中",
    "presence.offline": "离线",
    "worker.go_online": "上线接单",
    "worker.go_on_leave": "休假",
    "worker.no_offers_on_leave": "休假中：不会收到派单。",
    "worker.eligible": "今天可以接单。",
    "worker.not_eligible": "今天不能接单（审核状态：{vetting}，或证书缺失、过期）。",
    "worker.skills": "技能：{skills}",
    "worker.area": "服务范围：常驻地周边 {km} 公里",
    "worker.cert_expiring": "证书（{what}）将于 {day} 到期",
    "worker.health_cert": "健康证",
    "worker.enable_sound": "🔔 点此开启派单提示音",
    "worker.schedule": "日程",
    "worker.show_week": "未来 7 天",
    "worker.show_today": "今天",
    "worker.no_jobs": "今天没有订单。",
    "worker.open_job": "查看",
    "worker.nav_amap": "高德地图",
    "worker.nav_baidu": "百度地图",
    "worker.nav_app": "打开地图应用",
    "worker.chats": "客户",
    "worker.no_chats": "暂无会话：接单后即可与客户聊天。",
    "worker.chat_with": "客户 {customer}",
    "worker.job_taken_away": "客服已将此订单改派给他人。",
    "offer.title": "新订单",
    "offer.wave": "第 {wave} 轮",
    "offer.chosen": "客户指定了您",
    "offer.minutes": "{minutes} 分钟",
    "offer.distance": "距常驻地 {km} 公里",
    "offer.requests": "备注：{text}",
    "offer.pay": "预计收入 {pay}",
    "offer.more": "还有 {n} 个派单等待",
    "offer.accept": "接单",
    "offer.decline": "拒绝",
    "offer.accepted": "接单成功！",
    "offer.gone.offer:taken": "该订单已被其他人接走。",
    "offer.gone.offer:expired": "派单已过期。",
    "offer.gone.offer:withdrawn": "客户已取消订单。",
    "offer.gone.answered": "已处理。",
    "offer.error.offer_taken": "晚了一步：已被其他人接走。",
    "offer.error.offer_expired": "晚了一步：派单已过期。",
    "offer.error.offer_withdrawn": "订单已取消。",
    "offer.error.offer_declined": "您已拒绝过该订单。",
    "offer.error.offer_not_found": "该派单已不存在。",
    "job.title": "当前订单",
    "job.eta": "预计到达（分钟）",
    "job.eta_at": "预计 {time} 到达",
    "job.depart": "出发",
    "job.arrive": "已到达",
    "job.start": "开始服务",
    "job.finish": "完成服务",
    "job.finished": "服务完成，辛苦了！",
    "job.chat": "联系客户",
    "job.flagged": "到达位置距地址 {m} 米，已通知客服。",
    "position.title": "位置",
    "position.source": "位置来源",
    "position.manual": "手动设置",
    "position.browser": "本设备定位",
    "position.unavailable": "浏览器未提供位置，请手动设置。",
    "position.at_address": "设为订单地址",
    "position.at_base": "设为常驻地",
    "position.simulate": "出发后自动前往（演示）",
    "income.balance": "可提现",
    "income.balance_detail": "应付 {owed} · 提现中 {flight} · 待结算 {pending}",
    "income.last7": "近 7 天",
    "income.bucket": "{n} 单 · {earned}",
    "income.total": "合计",
    "income.jobs": "已完成订单",
    "income.line": "订单价 {gross}，佣金 {pct}% · {settled}",
    "income.settled": "已结算",
    "income.unsettled": "待结算",
    "income.statements": "结算单",
    "payout.title": "提现",
    "payout.settings": "收款账户",
    "payout.method": "收款方式",
    "payout.bank_card": "银行卡",
    "payout.alipay": "支付宝",
    "payout.wechat": "微信",
    "payout.account_name": "户名",
    "payout.account_no": "账号",
    "payout.bank_name": "开户行",
    "payout.period": "结算周期",
    "payout.weekly": "每周",
    "payout.monthly": "每月",
    "payout.request": "申请提现",
    "payout.requested": "已申请提现 {amount}。",
    "payout.saved": "收款账户已保存。",
    "payout.no_account": "尚未设置收款账户，请在下方设置。",
    "payout.status.requested": "已申请",
    "payout.status.approved": "已批准",
    "payout.status.paid": "已到账",
    "payout.status.rejected": "已驳回",
    "payout.status.failed": "失败",
    "skill.daily_cleaning": "日常保洁",
    "skill.deep_cleaning": "深度保洁",
    "skill.window_cleaning": "擦玻璃",
    "skill.appliance_cleaning": "家电清洗",
    "skill.maternity_care": "月嫂",
    "skill.childcare": "育儿",
    "skill.elder_care": "养老护理",
  },
});

main();
