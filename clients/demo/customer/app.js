// The customer app: services and search, worker profiles with reviews, booking with the price
// breakdown, coupons and points, paying through a sandbox provider, orders with their live
// timeline and the worker on a map, chat with support and the worker, notifications, reviews,
// complaints, points and spending. Element ids are listed in ../README.md.
import { boot } from "../shared/boot.js";
import { addStrings, money, pick, t, timeOf, when } from "../shared/i18n.js";
import { noteText, reasonText } from "../shared/timeline.js";
import { $, fill, h, showError, toast, txt } from "../shared/ui.js";
import { mapElement, metres, plot } from "./map.js";
import { AddressBook } from "./addresses.js";
import { CsatPrompt } from "./csat.js";
import { Packages } from "./packages.js";
import { payPanel } from "./pay.js";

const ROLE = "customer";
const QUOTE_DELAY_MS = 300;
const CANCELLABLE = ["pending_payment", "dispatching", "accepted", "on_the_way"];
const COMPLAINABLE = ["accepted", "on_the_way", "arrived", "in_service", "completed", "cancelled"];
const CATEGORIES = ["quality", "lateness", "damage", "behaviour", "billing", "safety", "other"];

const state = {
  session: null,
  hub: null,
  me: null,
  categories: [],
  services: [],
  catalog: new Map(), // service id -> every service seen, whatever the search
  category: null,
  addresses: [],
  orders: new Map(), // booking id -> booking (with its timeline when read one by one)
  openOrder: null,
  locations: new Map(), // booking id -> the worker's last booking:location
  workers: new Map(), // worker id -> public profile
  conversations: new Map(),
  booking: null, // the booking form's choices: {service, worker}
  quoteTimer: null,
  payment: null,
};
const demoHooks = (window.__demo ??= {});

async function main() {
  const hub = await boot({
    role: ROLE,
    title: "customer.title",
    views: () => [
      h("section", { id: "view-home" }, homeView()),
      h("section", { id: "view-orders" }, ordersView()),
      h(
        "section",
        { id: "view-chat" },
        h(
          "div",
          { class: "card" },
          h("div", { class: "row spread" }, txt("h2", "chat.title"), txt("button", "chat.support", { id: "support-open", type: "button", class: "primary", onclick: openSupport })),
          h("p", { id: "support-queue", class: "muted", hidden: true }),
          h("div", { id: "csat" }), // the rating prompt, once connected
          h("ul", { id: "conversations", class: "list" }),
        ),
        h("div", { id: "chat" }),
      ),
      h("section", { id: "view-inbox" }),
      h("section", { id: "view-me" }, meView()),
    ],
    onTab: (name) => name === "me" && loadMe(),
    onLang: () => {
      renderCategories();
      renderServices();
      renderOrders();
      renderConversations();
      if (state.openOrder) renderOrder();
      if (!$("#service-detail").hidden && state.service) showService(state.service.id);
      state.packages.render();
      state.addressBook.render();
      if (!$("#view-me").hidden) loadMe(); // points, spending and coupons, in the new language
    },
    onInbox: (unread, item) => item && toast(item.title),
    chatTitle: conversationTitle,
    onChats: renderConversations,
    refresh: refreshAll,
    hooks: demoHooks,
  }, state);
  state.addressBook = new AddressBook(hub, $("#address-book"), addressesChanged);
  state.csat = new CsatPrompt(hub, rated);
  state.packages = new Packages(hub, $("#packages"), { service: (id) => state.catalog.get(id), onBook: bookVisit });
  $("#csat").replaceWith(state.csat.root);
  hub.on("booking:updated", ({ booking, entry }) => bookingChanged(booking, entry));
  hub.on("booking:location", (location) => located(location));
  hub.on("support:queue", ({ position }) => showQueue(position));
  hub.on("conversation:assigned", (c) => conversationChanged(c, "chat.agent_joined"));
  hub.on("conversation:resolved", (c) => {
    conversationChanged(c, "chat.resolved");
    state.csat.offer(state.conversations.get(c.id));
  });
  hub.on("conversation:reopened", (c) => {
    conversationChanged(c, null);
    state.csat.withdraw(c.id);
  });
  loadCatalog();
  const wanted = new URLSearchParams(location.search).get("order");
  if (wanted) openOrder(wanted);
}

async function refreshAll() {
  await Promise.all([loadAddresses(), loadOrders(), loadConversations(), state.packages.load()]);
  if (state.openOrder) await openOrder(state.openOrder, { keepTab: true });
}

// The page ----------------------------------------------------------------------------------

/** One screen of the home view at a time: the list, a service, a worker, the booking form. */
function showScreen(id) {
  for (const screen of ["home-list", "service-detail", "worker-profile", "booking"]) $(`#${screen}`).hidden = screen !== id;
  window.scrollTo(0, 0);
}

// Services ------------------------------------------------------------------------------------

function homeView() {
  const search = h("input", { id: "service-search", type: "search", "data-i18n-placeholder": "home.search", placeholder: t("home.search") });
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(loadServices, QUOTE_DELAY_MS);
  });
  return [
    h(
      "div",
      { id: "home-list" },
      h("div", { class: "card" }, search, h("div", { id: "categories", class: "chips" })),
      h("ul", { id: "services", class: "list card" }),
    ),
    h("div", { id: "service-detail", class: "card", hidden: true }),
    h("div", { id: "worker-profile", class: "card", hidden: true }),
    h("div", { id: "booking", class: "card", hidden: true }),
  ];
}

async function loadCatalog() {
  const answer = await fetchJson("/api/v1/catalog/categories");
  if (answer.ok) state.categories = answer.data.items;
  renderCategories();
  loadServices();
}

async function fetchJson(path) {
  // Public routes: no token needed, but sending it does no harm.
  return state.hub.api("GET", path);
}

function renderCategories() {
  const chips = $("#categories");
  if (!chips) return;
  const chip = (id, label) =>
    h("button", { type: "button", class: state.category === id ? "active" : "", dataset: { category: id ?? "" }, onclick: () => ((state.category = id), renderCategories(), loadServices()) }, label);
  fill(chips, chip(null, t("home.all")), state.categories.map((c) => chip(c.id, pick(c, "name"))));
}

async function loadServices() {
  const params = new URLSearchParams({ limit: "50" });
  const q = $("#service-search").value.trim();
  if (q) params.set("q", q);
  if (state.category) params.set("category", state.category);
  const answer = await fetchJson(`/api/v1/services?${params}`);
  if (!answer.ok) return showError(answer.error);
  state.services = answer.data.items;
  for (const service of state.services) state.catalog.set(service.id, service);
  renderServices();
}

function renderServices() {
  const list = $("#services");
  if (!list) return;
  if (!state.services.length) return fill(list, h("li", { id: "services-empty", class: "muted" }, t("home.no_services")));
  fill(
    list,
    state.services.map((s) =>
      h(
        "li",
        { class: "service clickable", dataset: { serviceId: s.id }, onclick: () => showService(s.id) },
        h("div", { class: "row spread" }, h("strong", {}, pick(s, "name")), h("span", {}, priceFrom(s))),
        h("small", {}, pick(s, "description")),
        s.matched ? h("div", { class: "matched muted", dataset: { by: s.matched.by } }, t("home.matched", { by: t(`match.${s.matched.by}`), term: s.matched.term })) : null,
      ),
    ),
  );
}

function priceFrom(service) {
  return service.price.pricing === "hourly" ? t("home.per_hour", { price: money(service.price.unit_price_cents) }) : t("home.from", { price: money(service.price.from_cents) });
}

async function showService(serviceId) {
  let service = state.services.find((s) => s.id === serviceId);
  if (!service) {
    const answer = await fetchJson(`/api/v1/services/${serviceId}`);
    if (!answer.ok) return showError(answer.error);
    service = answer.data;
  }
  state.service = service;
  const panel = $("#service-detail");
  panel.dataset.serviceId = service.id;
  fill(
    panel,
    txt("button", "common.back", { id: "service-back", type: "button", class: "ghost", onclick: () => showScreen("home-list") }),
    h("h2", { id: "service-name" }, pick(service, "name")),
    h("p", {}, pick(service, "description")),
    h("p", {}, priceFrom(service), " · ", t("home.hours", { opens: service.opens_at, closes: service.closes_at })),
    h("p", { class: "muted" }, t("home.durations", { min: service.durations.min_minutes, max: service.durations.max_minutes })),
    h("button", { id: "book-service", type: "button", class: "primary", onclick: () => startBooking(service, null) }, t("home.book")),
    txt("h3", "home.workers"),
    h("ul", { id: "service-workers", class: "list" }, h("li", { class: "muted" }, t("common.loading"))),
  );
  showScreen("service-detail");
  const home = defaultAddress();
  const params = new URLSearchParams({ service: service.id, limit: "10" });
  if (home) {
    params.set("lat", home.lat);
    params.set("lng", home.lng);
  }
  const answer = await fetchJson(`/api/v1/workers?${params}`);
  if (!answer.ok) return showError(answer.error);
  fill(
    $("#service-workers"),
    answer.data.items.length
      ? answer.data.items.map((w) => workerRow(w, () => showWorker(w.id, service)))
      : h("li", { class: "muted" }, t("home.no_workers")),
  );
}

function workerRow(worker, onclick) {
  return h(
    "li",
    { class: "worker clickable", dataset: { workerId: worker.id }, onclick },
    h(
      "div",
      { class: "row" },
      h("span", { class: "avatar" }, worker.name.slice(0, 1)),
      h(
        "div",
        { class: "grow" },
        h("strong", {}, worker.name),
        " ",
        h("small", {}, t("worker.summary", { years: worker.years_experience, level: t(`level.${worker.level}`) })),
        h("div", {}, rating(worker), worker.distance_km != null ? ` · ${t("worker.km", { km: worker.distance_km.toFixed(1) })}` : ""),
      ),
    ),
  );
}

function rating(worker) {
  return worker.rating_count ? `★ ${worker.rating_avg.toFixed(1)} (${worker.rating_count})` : t("worker.no_rating");
}

async function showWorker(workerId, service) {
  const answer = await fetchJson(`/api/v1/workers/${workerId}`);
  if (!answer.ok) return showError(answer.error);
  const w = answer.data;
  state.workers.set(w.id, w);
  const panel = $("#worker-profile");
  panel.dataset.workerId = w.id;
  const scores = w.scores ? ["quality", "attitude", "skill"].map((k) => `${t(`review.${k}`)} ${w.scores[k].toFixed(1)}`).join(" · ") : "";
  fill(
    panel,
    txt("button", "common.back", { id: "worker-back", type: "button", class: "ghost", onclick: () => (service ? showScreen("service-detail") : showScreen("home-list")) }),
    h("div", { class: "row" }, h("span", { class: "avatar" }, w.name.slice(0, 1)), h("div", { class: "grow" }, h("h2", { id: "worker-name" }, w.name), h("small", {}, t("worker.about", { age: w.age ?? "?", years: w.years_experience, level: t(`level.${w.level}`) })))),
    h("p", { id: "worker-rating" }, rating(w), scores ? ` · ${scores}` : ""),
    h("p", {}, w.bio),
    w.training.length ? h("p", { class: "muted" }, t("worker.training", { list: w.training.join("、") })) : null,
    w.past_cases.length ? h("ul", { class: "list" }, w.past_cases.map((c) => h("li", {}, h("strong", {}, `${c.year} ${c.title}`), h("div", { class: "muted" }, c.description)))) : null,
    service ? h("button", { id: "book-worker", type: "button", class: "primary", onclick: () => startBooking(service, w) }, t("worker.book", { name: w.name })) : null,
    txt("h3", "worker.reviews"),
    h("ul", { id: "worker-reviews", class: "list" }),
    h("button", { id: "more-reviews", type: "button", class: "ghost", hidden: true }, t("worker.more_reviews")),
  );
  showScreen("worker-profile");
  loadReviews(w.id, null);
}

async function loadReviews(workerId, cursor) {
  const params = new URLSearchParams({ limit: "5" });
  if (cursor) params.set("cursor", cursor);
  const answer = await fetchJson(`/api/v1/workers/${workerId}/reviews?${params}`);
  if (!answer.ok) return showError(answer.error);
  const list = $("#worker-reviews");
  if (!cursor) list.replaceChildren();
  if (!answer.data.items.length && !cursor) list.append(h("li", { class: "muted" }, t("worker.no_reviews")));
  for (const review of answer.data.items) list.append(reviewItem(review));
  const more = $("#more-reviews");
  more.hidden = !answer.data.next_cursor;
  more.onclick = () => loadReviews(workerId, answer.data.next_cursor);
}

function reviewItem(review) {
  return h(
    "li",
    { class: "review", dataset: { reviewId: review.id } },
    h("div", { class: "row spread" }, h("strong", {}, `${review.author} ★ ${review.overall}`), h("small", {}, when(review.created_at, { dateStyle: "medium" }))),
    h("div", {}, review.comment),
    review.reply ? h("div", { class: "muted" }, t("review.reply", { text: review.reply.text })) : null,
  );
}

// Booking -------------------------------------------------------------------------------------

function defaultAddress() {
  return state.addresses.find((a) => a.is_default) || state.addresses[0] || null;
}

function localDay(offsetDays = 0) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date(Date.now() + offsetDays * 86_400_000));
}

function times(service, minutes) {
  const toMin = (hhmm) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  const out = [];
  for (let m = toMin(service.opens_at); m + minutes <= toMin(service.closes_at); m += 30) {
    out.push(`${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`);
  }
  return out;
}

function startBooking(service, worker, packageOrder = null) {
  state.booking = { service, worker };
  const d = service.durations;
  const durations = [];
  for (let m = d.min_minutes; m <= d.max_minutes; m += d.step_minutes) durations.push(m);
  const duration = h("select", { id: "book-duration" }, durations.map((m) => h("option", { value: m, selected: m === d.default_minutes }, t("book.minutes", { m }))));
  const time = h("select", { id: "book-time" });
  const fillTimes = () => {
    const keep = time.value || "10:00";
    fill(time, times(service, Number(duration.value)).map((hhmm) => h("option", { value: hhmm, selected: hhmm === keep }, hhmm)));
  };
  duration.addEventListener("change", fillTimes);
  fillTimes();
  const form = h(
    "form",
    { id: "booking-form" },
    txt("button", "common.back", { id: "booking-back", type: "button", class: "ghost", onclick: () => showScreen(worker ? "worker-profile" : "service-detail") }),
    h("h2", {}, t("book.title", { service: pick(service, "name") })),
    worker ? h("p", { id: "book-worker", dataset: { workerId: worker.id } }, t("book.with", { name: worker.name })) : null,
    h("div", { class: "row" }, h("label", { class: "grow" }, txt("span", "book.date"), h("input", { id: "book-date", type: "date", value: localDay(1), min: localDay(), max: localDay(60), required: true })), h("label", { class: "grow" }, txt("span", "book.time"), time)),
    h("label", {}, txt("span", "book.duration"), duration),
    h("label", {}, txt("span", "book.address"), h("select", { id: "book-address", required: true }, addressChoices(null))),
    h("p", { id: "book-no-address", class: "notice", hidden: state.addresses.length > 0 }, t("book.no_address"), " ", txt("button", "address.add", { type: "button", class: "ghost", onclick: () => (state.showTab("me"), $("#address-add").click()) })),
    h("label", {}, txt("span", "book.requests"), h("textarea", { id: "book-requests", rows: 2, maxlength: 500 })),
    packageChoice(service, packageOrder),
    h("label", { class: "not-package" }, txt("span", "book.coupon"), h("select", { id: "book-coupon" }, h("option", { value: "" }, t("book.best_coupon")), h("option", { value: "none" }, t("book.no_coupon")))),
    h("label", { class: "not-package" }, txt("span", "book.points"), h("input", { id: "book-points", type: "number", min: 0, step: 1, value: 0 })),
    h("div", { id: "quote" }, h("p", { class: "muted" }, t("common.loading"))),
    h("p", { id: "quote-error", class: "error", hidden: true }),
    h("button", { id: "book-submit", type: "submit", class: "primary", disabled: true }, t("book.submit")),
  );
  form.addEventListener("input", () => {
    clearTimeout(state.quoteTimer);
    state.quoteTimer = setTimeout(quote, QUOTE_DELAY_MS);
  });
  form.addEventListener("change", () => {
    clearTimeout(state.quoteTimer);
    state.quoteTimer = setTimeout(quote, QUOTE_DELAY_MS);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    book();
  });
  state.bookingKey = crypto.randomUUID(); // one booking per form, however often it is sent
  fill($("#booking"), form);
  packageChosen();
  showScreen("booking");
  quote();
}

/** Paying with a visit of one of the customer's packages for this service (`#book-package`). */
function packageChoice(service, chosen) {
  const usable = state.packages.usable(service.id);
  if (!usable.length) return null;
  const select = h(
    "select",
    { id: "book-package" },
    h("option", { value: "" }, t("book.no_package")),
    usable.map((o) => h("option", { value: o.id, selected: o.id === chosen?.id, dataset: { visitMinutes: o.visit_minutes } }, t("book.package_visit", { name: o.name, left: o.visits_left }))),
  );
  select.addEventListener("change", packageChosen);
  return h("label", {}, txt("span", "book.package"), select);
}

/** A package visit pays it all: coupons and points are not offered, and a visit has a length. */
function packageChosen() {
  const select = $("#book-package");
  const option = select?.selectedOptions[0];
  const visit = Boolean(select?.value);
  for (const label of document.querySelectorAll("#booking-form .not-package")) label.hidden = visit;
  if (!visit) return;
  const longest = Number(option.dataset.visitMinutes);
  const duration = $("#book-duration");
  if (Number(duration.value) > longest) {
    const fits = [...duration.options].filter((o) => Number(o.value) <= longest).pop();
    if (fits) duration.value = fits.value;
    duration.dispatchEvent(new Event("change", { bubbles: true }));
  }
}

/** "Book a visit" on a package: its service's booking form, paid by that package. */
async function bookVisit(order) {
  let service = state.catalog.get(order.service_id);
  if (!service) {
    const answer = await fetchJson(`/api/v1/services/${order.service_id}`);
    if (!answer.ok) return showError(answer.error);
    service = answer.data;
  }
  state.service = service;
  state.showTab("home");
  startBooking(service, null, order);
}

function bookingRequest() {
  const b = state.booking;
  const request = {
    service_id: b.service.id,
    date: $("#book-date").value,
    start_time: $("#book-time").value,
    duration_minutes: Number($("#book-duration").value),
    address_id: $("#book-address").value,
    special_requests: $("#book-requests").value.trim(),
  };
  if (b.worker) request.worker_id = b.worker.id;
  const visit = $("#book-package")?.value;
  if (visit) {
    request.package_order_id = visit; // paid by a visit: no coupon, no points
    return request;
  }
  const coupon = $("#book-coupon").value;
  if (coupon === "none") request.coupon_id = null;
  else if (coupon) request.coupon_id = coupon;
  const points = Number($("#book-points").value);
  if (points > 0) request.points = Math.floor(points);
  return request;
}

async function quote() {
  if (!state.booking || $("#booking").hidden) return;
  const request = bookingRequest();
  const answer = await state.hub.api("POST", "/api/v1/bookings/quote", request);
  const error = $("#quote-error");
  $("#book-submit").disabled = !answer.ok;
  if (!answer.ok) {
    error.hidden = false;
    const key = `quote.error.${answer.error.code}`;
    const known = t(key, { max: answer.error.details?.[0]?.max_points });
    error.textContent = known === key ? answer.error.message : known;
    error.dataset.code = answer.error.code;
    return;
  }
  error.hidden = true;
  const q = answer.data;
  renderCouponChoices(q);
  fill($("#quote"), priceTable(q, q.worker_pay_cents));
}

function renderCouponChoices(q) {
  const select = $("#book-coupon");
  const chosen = select.value;
  const options = [h("option", { value: "" }, t("book.best_coupon")), h("option", { value: "none" }, t("book.no_coupon"))];
  const seen = new Set();
  if (q.coupon_id) {
    const line = q.discounts.find((d) => d.coupon_id === q.coupon_id);
    options.push(h("option", { value: q.coupon_id }, `${line?.label || q.coupon_id}`));
    seen.add(q.coupon_id);
  }
  for (const c of q.applicable_coupons) {
    if (seen.has(c.id)) continue;
    options.push(h("option", { value: c.id }, `${pick(c, "name")} (−${money(c.discount_cents)})`));
  }
  fill(select, options);
  select.value = chosen;
  select.dataset.applied = q.coupon_id || "";
}

const LINE_CODES = ["weekend", "short_notice", "chosen_worker", "first_booking", "long_job", "coupon", "points", "package", "redo"];

function lineLabel(line) {
  return LINE_CODES.includes(line.code) ? t(`price.${line.code}`, { label: line.label }) : line.label;
}

/** The price breakdown (`.price-lines`): base, each surcharge and discount, the total. */
function priceTable(price, workerPay) {
  return h(
    "table",
    { class: "price-lines", id: "price-lines" },
    h("tr", { dataset: { code: "base" } }, h("td", {}, t("price.base", { minutes: price.billed_minutes ?? price.duration_minutes })), h("td", {}, money(price.base_cents))),
    (price.surcharges || []).map((l) => h("tr", { dataset: { code: l.code } }, h("td", {}, lineLabel(l)), h("td", {}, `+${money(l.amount_cents)}`))),
    (price.discounts || []).map((l) => h("tr", { dataset: { code: l.code } }, h("td", {}, lineLabel(l)), h("td", {}, money(l.amount_cents)))),
    h("tr", { class: "total" }, h("td", {}, t("price.total")), h("td", { id: "quote-total", dataset: { cents: price.total_cents } }, money(price.total_cents))),
    workerPay ? h("tr", { class: "muted" }, h("td", {}, t("price.worker_pay")), h("td", {}, money(workerPay))) : null,
  );
}

async function book() {
  $("#book-submit").disabled = true;
  const answer = await state.hub.api("POST", "/api/v1/bookings", bookingRequest(), { idempotencyKey: state.bookingKey });
  $("#book-submit").disabled = false;
  if (!answer.ok) return showError(answer.error);
  state.orders.set(answer.data.id, answer.data);
  renderOrders();
  toast(t(answer.data.status === "pending_payment" ? "book.made" : "book.made_paid"));
  if (answer.data.package_order_id || $("#book-package")?.value) state.packages.load(); // a visit fewer
  showScreen("home-list");
  state.booking = null;
  await openOrder(answer.data.id);
}

// Orders --------------------------------------------------------------------------------------

function ordersView() {
  return [
    h("div", { id: "orders-card", class: "card" }, txt("h2", "orders.title"), h("ul", { id: "orders", class: "list" })),
    h("div", { id: "order", class: "card", hidden: true }),
  ];
}

async function loadOrders() {
  const answer = await state.hub.api("GET", "/api/v1/bookings?limit=50");
  if (!answer.ok) return showError(answer.error);
  for (const booking of answer.data.items) state.orders.set(booking.id, { ...state.orders.get(booking.id), ...booking });
  renderOrders();
}

function renderOrders() {
  const list = $("#orders");
  if (!list) return;
  const orders = [...state.orders.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
  if (!orders.length) return fill(list, h("li", { id: "orders-empty", class: "muted" }, t("orders.none")));
  fill(
    list,
    orders.map((o) =>
      h(
        "li",
        { class: "order clickable", dataset: { bookingId: o.id, status: o.status }, onclick: () => openOrder(o.id) },
        h("div", { class: "row spread" }, h("strong", {}, pick(o.service, "name")), h("span", { class: "pill" }, t(`status.${o.status}`))),
        h("div", { class: "row spread" }, h("small", {}, when(o.slot_start)), h("small", {}, money(o.total_cents))),
      ),
    ),
  );
}

async function openOrder(bookingId, { keepTab = false } = {}) {
  const answer = await state.hub.api("GET", `/api/v1/bookings/${bookingId}`);
  if (!answer.ok) return showError(answer.error);
  state.orders.set(bookingId, answer.data);
  state.openOrder = bookingId;
  if (answer.data.worker_id && !state.workers.has(answer.data.worker_id)) {
    const worker = await fetchJson(`/api/v1/workers/${answer.data.worker_id}`);
    if (worker.ok) state.workers.set(worker.data.id, worker.data);
  }
  renderOrders();
  renderOrder();
  if (!keepTab) state.showTab("orders");
  loadOrderExtras(bookingId);
}

function closeOrder() {
  state.openOrder = null;
  state.payment = null;
  $("#order").hidden = true;
  $("#orders-card").hidden = false;
}

function bookingChanged(booking, entry) {
  const known = state.orders.get(booking.id) || {};
  const timeline = known.timeline ? [...known.timeline] : null;
  if (timeline && entry && !timeline.some((e) => e.id === entry.id)) timeline.push(entry);
  state.orders.set(booking.id, { ...known, ...booking, ...(timeline ? { timeline } : {}) });
  renderOrders();
  if (state.openOrder === booking.id) {
    if (booking.worker_id && !state.workers.has(booking.worker_id)) {
      fetchJson(`/api/v1/workers/${booking.worker_id}`).then((w) => w.ok && state.workers.set(w.data.id, w.data) && renderOrder());
    }
    renderOrder();
    if (entry?.kind === "accepted") loadConversations();
  }
}

function located(loc) {
  state.locations.set(loc.booking_id, loc);
  if (state.openOrder === loc.booking_id) renderMap();
}

function renderOrder() {
  const o = state.orders.get(state.openOrder);
  const panel = $("#order");
  if (!o || !panel) return;
  $("#orders-card").hidden = true;
  panel.hidden = false;
  panel.dataset.bookingId = o.id;
  panel.dataset.status = o.status;
  const worker = o.worker_id ? state.workers.get(o.worker_id) : null;
  const moving = o.status === "on_the_way";
  fill(
    panel,
    txt("button", "common.back", { id: "order-back", type: "button", class: "ghost", onclick: closeOrder }),
    h("div", { class: "row spread" }, h("h2", {}, pick(o.service, "name")), h("span", { id: "order-status", class: "pill", dataset: { status: o.status } }, t(`status.${o.status}`))),
    h("p", {}, when(o.slot_start), " – ", timeOf(o.slot_end)),
    h("p", { id: "order-address" }, [o.address.label, o.address.line].filter(Boolean).join(" · ")),
    worker ? h("p", { id: "order-worker", dataset: { workerId: worker.id } }, t("orders.worker", { name: worker.name }), " · ", rating(worker)) : null,
    moving || o.status === "arrived"
      ? h("div", {}, h("p", { id: "order-eta" }), mapElement("order-map", t("orders.map")))
      : null,
    o.status === "pending_payment" ? orderPayPanel(o) : null,
    h("div", { id: "order-actions", class: "row" },
      CANCELLABLE.includes(o.status) ? txt("button", "orders.cancel", { id: "order-cancel", type: "button", class: "danger", onclick: () => cancelOrder(o) }) : null,
      o.worker_id ? txt("button", "orders.chat_worker", { id: "order-chat-worker", type: "button", onclick: () => openBookingChat(o.id) }) : null,
    ),
    txt("h3", "orders.price"),
    o.price ? priceTable(o.price, null) : null,
    o.cancellation_fee_cents ? h("p", { class: "pill warn" }, t("orders.fee", { fee: money(o.cancellation_fee_cents) })) : null,
    txt("h3", "orders.timeline"),
    h("ul", { id: "order-timeline", class: "timeline" }, (o.timeline || []).map(timelineItem)),
    h("div", { id: "review-panel" }),
    h("div", { id: "complaint-panel" }),
  );
  renderMap();
  if (state.extras?.bookingId === o.id) renderExtras(o);
}

function timelineItem(entry) {
  const data = entry.data || {};
  let extra = "";
  if (entry.kind === "departed" && data.eta_minutes != null) extra = t("timeline.eta", { m: data.eta_minutes });
  if (entry.kind === "arrived" && data.distance_m != null) extra = t("timeline.distance", { m: data.distance_m });
  const kind = t(`timeline.${entry.kind}`);
  return h(
    "li",
    { dataset: { kind: entry.kind, entryId: entry.id } },
    h("strong", {}, kind.startsWith("timeline.") ? entry.kind : kind),
    " ",
    h("small", {}, timeOf(entry.at)),
    extra ? h("div", { class: "muted" }, extra) : null,
    entry.note ? h("div", { class: "muted note" }, noteText(entry)) : null,
    reasonText(entry) ? h("div", { class: "muted reason" }, reasonText(entry)) : null,
  );
}

function renderMap() {
  const o = state.orders.get(state.openOrder);
  const svg = $("#order-map");
  const eta = $("#order-eta");
  if (!o || !svg) return;
  // The last position the worker sent, or where they set off from.
  const departed = [...(o.timeline || [])].reverse().find((e) => e.kind === "departed" && e.data?.lat != null);
  const loc = state.locations.get(o.id) || (departed ? { lat: departed.data.lat, lng: departed.data.lng } : null);
  const worker = loc ? { lat: loc.lat, lng: loc.lng } : null;
  const name = o.worker_id ? state.workers.get(o.worker_id)?.name || t("orders.the_worker") : "";
  plot(svg, o.address, worker, { address: t("orders.home"), worker: name });
  const parts = [];
  if (o.eta_at && o.status === "on_the_way") parts.push(t("orders.eta", { time: timeOf(o.eta_at) }));
  if (loc) parts.push(t("orders.away", { km: ((loc.distance_m ?? metres(worker, o.address)) / 1000).toFixed(1) }));
  else if (o.status === "on_the_way") parts.push(t("orders.waiting_position"));
  eta.textContent = parts.join(" · ");
  eta.dataset.distanceM = loc ? String(loc.distance_m ?? "") : "";
}

async function cancelOrder(o) {
  if (!confirm(t("orders.cancel_confirm"))) return;
  const answer = await state.hub.api("POST", `/api/v1/bookings/${o.id}/cancel`, { reason: "customer changed plans" });
  if (!answer.ok) return showError(answer.error);
  state.orders.set(o.id, { ...o, ...answer.data });
  toast(answer.data.cancellation_fee_cents ? t("orders.fee", { fee: money(answer.data.cancellation_fee_cents) }) : t("orders.cancelled"));
  renderOrder();
  renderOrders();
}

// Paying ----------------------------------------------------------------------------------------

function orderPayPanel(o) {
  return payPanel(state.hub, {
    path: `/api/v1/bookings/${o.id}/payments`,
    totalCents: o.total_cents,
    dueAt: o.payment_due_at,
    returnUrl: `${location.origin}${location.pathname}?order=${o.id}`,
    payment: state.payment?.booking_id === o.id ? state.payment : null,
    onPayment: (payment) => (state.payment = payment),
  });
}

// Reviews and complaints -----------------------------------------------------------------------

async function loadOrderExtras(bookingId) {
  const o = state.orders.get(bookingId);
  const extras = { bookingId, review: null, complaints: [] };
  if (o.status === "completed") {
    const review = await state.hub.api("GET", `/api/v1/bookings/${bookingId}/review`);
    if (review.ok) extras.review = review.data;
  }
  if (COMPLAINABLE.includes(o.status)) {
    const complaints = await state.hub.api("GET", "/api/v1/complaints?limit=50");
    if (complaints.ok) extras.complaints = complaints.data.items.filter((c) => c.booking_id === bookingId);
  }
  state.extras = extras;
  if (state.openOrder === bookingId) renderExtras(o);
}

function renderExtras(o) {
  const reviewPanel = $("#review-panel");
  const complaintPanel = $("#complaint-panel");
  if (!reviewPanel) return;
  const { review, complaints } = state.extras;
  if (o.status === "completed") fill(reviewPanel, review ? h("div", { id: "review" }, txt("h3", "review.yours"), reviewItem(review)) : reviewForm(o));
  else reviewPanel.replaceChildren();
  if (!COMPLAINABLE.includes(o.status) || !o.worker_id) return complaintPanel.replaceChildren();
  const open = complaints.find((c) => !["resolved", "rejected"].includes(c.status));
  fill(
    complaintPanel,
    complaints.length ? txt("h3", "complaint.yours") : null,
    h(
      "ul",
      { id: "complaints", class: "list" },
      complaints.map((c) =>
        h(
          "li",
          { class: "complaint", dataset: { complaintId: c.id, status: c.status } },
          h("div", { class: "row spread" }, h("strong", {}, t(`complaint.category.${c.category}`)), h("span", { class: "pill" }, t(`complaint.status.${c.status}`))),
          h("div", {}, c.body),
          c.messages.map((m) => h("div", { class: "muted" }, t("complaint.support_says", { text: m.body }))),
          c.answer ? h("div", {}, t("complaint.answer", { text: c.answer })) : null,
        ),
      ),
    ),
    open ? null : complaintForm(o),
  );
}

function stars(id) {
  return h("select", { id }, [5, 4, 3, 2, 1].map((n) => h("option", { value: n }, "★".repeat(n))));
}

function reviewForm(o) {
  const form = h(
    "form",
    { id: "review-form" },
    txt("h3", "review.title"),
    h("div", { class: "row" },
      h("label", { class: "grow" }, txt("span", "review.quality"), stars("review-quality")),
      h("label", { class: "grow" }, txt("span", "review.attitude"), stars("review-attitude")),
      h("label", { class: "grow" }, txt("span", "review.skill"), stars("review-skill")),
    ),
    h("label", {}, txt("span", "review.comment"), h("textarea", { id: "review-comment", rows: 3, maxlength: 2000 })),
    h("label", {}, txt("span", "review.photos"), h("input", { id: "review-photos", type: "file", accept: "image/*,video/mp4", multiple: true })),
    txt("button", "review.submit", { id: "review-submit", type: "submit", class: "primary" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    $("#review-submit").disabled = true;
    const uploads = await uploadAll($("#review-photos").files);
    if (uploads === null) return ($("#review-submit").disabled = false);
    const body = {
      quality: Number($("#review-quality").value),
      attitude: Number($("#review-attitude").value),
      skill: Number($("#review-skill").value),
      comment: $("#review-comment").value.trim(),
      upload_ids: uploads.map((u) => u.upload_id),
    };
    const answer = await state.hub.api("POST", `/api/v1/bookings/${o.id}/review`, body, { idempotencyKey: crypto.randomUUID() });
    $("#review-submit").disabled = false;
    if (!answer.ok) return showError(answer.error);
    toast(t("review.thanks"));
    loadOrderExtras(o.id);
  });
  return form;
}

function complaintForm(o) {
  const form = h(
    "details",
    { id: "complaint" },
    txt("summary", "complaint.title"),
    h(
      "form",
      { id: "complaint-form" },
      h("label", {}, txt("span", "complaint.what"), h("select", { id: "complaint-category" }, CATEGORIES.map((c) => h("option", { value: c }, t(`complaint.category.${c}`))))),
      h("label", {}, txt("span", "complaint.body"), h("textarea", { id: "complaint-body", rows: 3, maxlength: 4000, required: true })),
      h("label", {}, txt("span", "complaint.files"), h("input", { id: "complaint-files", type: "file", accept: "image/*,video/mp4,application/pdf", multiple: true })),
      txt("button", "complaint.submit", { id: "complaint-submit", type: "submit", class: "danger" }),
    ),
  );
  form.querySelector("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("#complaint-submit").disabled = true;
    const uploads = await uploadAll($("#complaint-files").files);
    if (uploads === null) return ($("#complaint-submit").disabled = false);
    const body = { category: $("#complaint-category").value, body: $("#complaint-body").value.trim(), attachments: uploads.map((u) => u.upload_id) };
    const answer = await state.hub.api("POST", `/api/v1/bookings/${o.id}/complaints`, body, { idempotencyKey: crypto.randomUUID() });
    $("#complaint-submit").disabled = false;
    if (!answer.ok) return showError(answer.error);
    toast(t("complaint.filed"));
    loadOrderExtras(o.id);
  });
  return form;
}

/** Upload each file; the uploads, or null after telling the person what failed. */
async function uploadAll(files) {
  const uploads = [];
  for (const file of files) {
    const answer = await state.hub.upload(file);
    if (!answer.ok) {
      showError(answer.error);
      return null;
    }
    uploads.push(answer.data);
  }
  return uploads;
}

// Chat ----------------------------------------------------------------------------------------

async function loadConversations() {
  const answer = await state.hub.call("conversations:list");
  if (!answer.ok) return;
  state.conversations.clear();
  for (const c of answer.data.items) {
    state.conversations.set(c.id, c);
    state.chat.setUnread(c.id, c.unread || 0);
  }
  renderConversations();
  // The latest support conversation, if it was resolved while the page was away and not rated.
  const support = [...state.conversations.values()].filter((c) => c.kind === "support").sort((a, b) => b.created_at.localeCompare(a.created_at));
  if (support.length) state.csat.offer(support[0]);
}

/** The hub kept the customer's rating (`score`), or had one already (null). */
function rated(conversationId, score) {
  const c = state.conversations.get(conversationId);
  if (c && score !== null) c.csat_score = score;
  if (c && score === null) loadConversations();
  renderConversations();
}

function conversationTitle(id) {
  const c = state.conversations.get(id);
  if (!c) return "";
  if (c.kind === "support") return t(c.status === "resolved" ? "chat.support_resolved" : "chat.support_title");
  const o = state.orders.get(c.booking_id);
  const worker = c.worker_id ? state.workers.get(c.worker_id)?.name || c.worker_id : "";
  return o ? t("chat.booking_title", { service: pick(o.service, "name"), when: when(o.slot_start, { dateStyle: "short", timeStyle: "short" }), worker }) : t("chat.worker_title", { worker });
}

function renderConversations() {
  const list = $("#conversations");
  if (!list) return;
  const all = [...state.conversations.values()].sort((a, b) => (b.last_message_at || b.created_at).localeCompare(a.last_message_at || a.created_at));
  if (!all.length) return fill(list, h("li", { class: "muted" }, t("chat.none")));
  fill(
    list,
    all.map((c) => {
      const unread = state.chat.unread.get(c.id) || 0;
      return h(
        "li",
        { class: "conversation clickable", dataset: { conversationId: c.id, kind: c.kind, status: c.status }, onclick: () => state.chat.open(c.id) },
        h(
          "div",
          { class: "row spread" },
          h("span", {}, conversationTitle(c.id)),
          c.csat_score ? h("span", { class: "pill csat-given", dataset: { score: c.csat_score } }, t("csat.rated", { score: c.csat_score })) : null,
          unread ? h("span", { class: "badge" }, String(unread)) : null,
        ),
      );
    }),
  );
}

async function openSupport() {
  const answer = await state.hub.call("support:open");
  if (!answer.ok) return showError(answer.error);
  const { conversation, position } = answer.data;
  state.conversations.set(conversation.id, conversation);
  renderConversations();
  showQueue(conversation.status === "queued" ? position : null);
  state.chat.open(conversation.id);
}

function showQueue(position) {
  const el = $("#support-queue");
  if (!el) return;
  el.hidden = !position;
  el.dataset.position = position || "";
  el.textContent = position ? t("chat.queue", { n: position }) : "";
}

function conversationChanged(conversation, message) {
  state.conversations.set(conversation.id, { ...state.conversations.get(conversation.id), ...conversation });
  if (conversation.status !== "queued") showQueue(null);
  renderConversations();
  if (message) toast(t(message));
}

async function openBookingChat(bookingId) {
  let c = [...state.conversations.values()].find((x) => x.booking_id === bookingId);
  if (!c) {
    await loadConversations();
    c = [...state.conversations.values()].find((x) => x.booking_id === bookingId);
  }
  if (!c) return toast(t("chat.none"), "error");
  state.showTab("chat");
  state.chat.open(c.id);
}

// Me: packages, addresses, coupons, points, spending ----------------------------------------

function meView() {
  return [
    h("div", { id: "packages", class: "card" }),
    h("div", { id: "address-book", class: "card" }),
    h("div", { class: "card" }, txt("h2", "me.coupons"), h("ul", { id: "coupons", class: "list" }), txt("h3", "me.claimable"), h("ul", { id: "claimable-coupons", class: "list" })),
    h("div", { class: "card" }, txt("h2", "me.points"), h("p", { id: "points-balance", class: "pay" }), h("ul", { id: "points-history", class: "list" })),
    h("div", { class: "card" }, txt("h2", "me.spending"), h("p", { id: "spending-totals" }), h("ul", { id: "spending-list", class: "list" })),
  ];
}

async function loadAddresses() {
  await state.addressBook.load();
}

/** The addresses changed (read, or edited in "Me"): the booking form offers them as they are. */
function addressesChanged(addresses) {
  state.addresses = addresses;
  const select = $("#book-address");
  if (select) fill(select, addressChoices(select.value));
  const none = $("#book-no-address");
  if (none) none.hidden = addresses.length > 0;
}

function addressChoices(chosen) {
  const wanted = state.addresses.some((a) => a.id === chosen) ? chosen : defaultAddress()?.id;
  return state.addresses.map((a) => h("option", { value: a.id, selected: a.id === wanted }, [a.label, a.line].filter(Boolean).join(" · ")));
}

async function loadMe() {
  const hub = state.hub;
  state.packages.load();
  const [points, spending, wallet, claimable] = await Promise.all([
    hub.api("GET", "/api/v1/customers/me/points?limit=20"),
    hub.api("GET", "/api/v1/customers/me/spending?limit=20"),
    hub.api("GET", "/api/v1/customers/me/coupons?state=available"),
    hub.api("GET", "/api/v1/coupons"),
  ]);
  if (points.ok) {
    const p = points.data;
    const balance = $("#points-balance");
    balance.dataset.points = p.balance;
    balance.textContent = t("me.points_balance", { n: p.balance });
    fill(
      $("#points-history"),
      p.items.length
        ? p.items.map((e) => h("li", { class: "row spread", dataset: { kind: e.kind } }, h("span", {}, `${t(`points.${e.kind}`)} ${e.note || ""}`), h("span", {}, `${e.points > 0 ? "+" : ""}${e.points}`)))
        : h("li", { class: "muted" }, t("common.empty")),
    );
  }
  if (spending.ok) {
    const s = spending.data;
    const totals = $("#spending-totals");
    totals.dataset.netCents = s.totals.net_cents;
    totals.textContent = t("me.spending_totals", { paid: money(s.totals.paid_cents), refunded: money(s.totals.refunded_cents), net: money(s.totals.net_cents) });
    const names = new Map(s.bookings.map((b) => [b.booking_id, b]));
    fill(
      $("#spending-list"),
      s.items.length
        ? s.items.map((m) =>
            h(
              "li",
              { class: "row spread", dataset: { kind: m.kind } },
              h("span", {}, `${when(m.at, { dateStyle: "short", timeStyle: "short" })} ${t(`spending.${m.kind}`)} ${m.booking_id && names.has(m.booking_id) ? pick(names.get(m.booking_id), "service_name") : ""}`),
              h("span", {}, money(m.amount_cents)),
            ),
          )
        : h("li", { class: "muted" }, t("common.empty")),
    );
  }
  if (wallet.ok) {
    fill(
      $("#coupons"),
      wallet.data.items.length
        ? wallet.data.items.map((c) => h("li", { class: "row spread", dataset: { walletId: c.id } }, h("span", {}, pick(c, "name")), h("small", {}, t("me.until", { day: when(c.valid_until, { dateStyle: "medium" }) }))))
        : h("li", { class: "muted" }, t("me.no_coupons")),
    );
  }
  if (claimable.ok) {
    fill(
      $("#claimable-coupons"),
      claimable.data.items.length
        ? claimable.data.items.map((c) =>
            h(
              "li",
              { class: "row spread" },
              h("span", {}, `${pick(c, "name")} · ${c.kind === "percent" ? `${c.percent}%` : money(c.amount_cents)}`),
              h("button", { type: "button", class: "ghost claim-coupon", dataset: { couponId: c.id }, onclick: () => claim(c.id) }, t("me.claim")),
            ),
          )
        : h("li", { class: "muted" }, t("common.empty")),
    );
  }
}

async function claim(couponId) {
  const answer = await state.hub.api("POST", `/api/v1/coupons/${couponId}/claim`, {});
  if (!answer.ok) return showError(answer.error);
  toast(t("me.claimed"));
  loadMe();
}

// Strings ---------------------------------------------------------------------------------------

addStrings({
  en: {
    "customer.title": "Home services",
    "tab.home": "Services",
    "tab.orders": "Orders",
    "tab.chat": "Chat",
    "tab.inbox": "Inbox",
    "tab.me": "Me",
    "home.search": "Search: window, 擦玻璃, nanny…",
    "home.all": "All",
    "home.no_services": "No service matches.",
    "home.matched": "Found by {by}: {term}",
    "match.name": "its name",
    "match.category": "its category",
    "match.synonym": "a synonym",
    "match.keyword": "a keyword",
    "match.description": "its description",
    "match.pinyin": "pinyin",
    "match.fuzzy": "a near spelling",
    "home.per_hour": "{price} / hour",
    "home.from": "from {price}",
    "home.hours": "{opens}–{closes}",
    "home.durations": "{min}–{max} minutes",
    "home.book": "Book",
    "home.workers": "Workers near my home",
    "home.no_workers": "No worker covers your address for this service.",
    "worker.summary": "{years} years · {level}",
    "worker.about": "{age} years old · {years} years' experience · {level}",
    "worker.km": "{km} km",
    "worker.no_rating": "No reviews yet",
    "worker.training": "Training: {list}",
    "worker.book": "Book {name}",
    "worker.reviews": "Reviews",
    "worker.no_reviews": "No reviews yet.",
    "worker.more_reviews": "More reviews",
    "level.junior": "junior",
    "level.intermediate": "intermediate",
    "level.senior": "senior",
    "book.title": "Book: {service}",
    "book.with": "With {name} (they get the offer first)",
    "book.date": "Date",
    "book.time": "Start",
    "book.duration": "Length",
    "book.minutes": "{m} min",
    "book.address": "Address",
    "book.no_address": "Add an address first: the worker needs to know where to go.",
    "book.requests": "Requests for the worker",
    "book.coupon": "Coupon",
    "book.best_coupon": "The best of my coupons",
    "book.no_coupon": "No coupon",
    "book.points": "Points to spend",
    "book.submit": "Book and pay",
    "book.made": "Booked. Now pay to find a worker.",
    "book.made_paid": "Booked and paid by your package: looking for a worker.",
    "book.package": "Pay with a package",
    "book.no_package": "No, pay for this booking",
    "book.package_visit": "{name} ({left} visits left)",
    "quote.error.visit_too_long": "Longer than a visit of the package: choose a shorter length.",
    "quote.error.package_other_service": "That package is for another service.",
    "quote.error.package_not_paid": "That package is not paid yet.",
    "quote.error.package_expired": "That package has expired.",
    "quote.error.package_used_up": "That package has no visit left.",
    "quote.error.slot_too_soon": "That start is too soon: pick a later time.",
    "quote.error.slot_too_far": "That date is too far ahead.",
    "quote.error.outside_service_hours": "Outside the service's hours.",
    "quote.error.points_exceed_cap": "Too many points: at most {max}.",
    "quote.error.points_insufficient": "You do not have that many points.",
    "price.base": "Service ({minutes} min)",
    "price.total": "Total",
    "price.worker_pay": "Of which the worker earns about",
    "price.weekend": "Weekend",
    "price.short_notice": "Less than 24 h notice",
    "price.chosen_worker": "Chosen worker",
    "price.first_booking": "First booking",
    "price.long_job": "Long booking",
    "price.coupon": "Coupon: {label}",
    "price.points": "{label}",
    "price.package": "Package visit",
    "price.redo": "Free redo",
    "orders.title": "My orders",
    "orders.none": "No orders yet: book a service.",
    "orders.worker": "Worker: {name}",
    "orders.map": "The worker and your address",
    "orders.home": "Home",
    "orders.the_worker": "Worker",
    "orders.eta": "Expected at {time}",
    "orders.away": "{km} km away",
    "orders.waiting_position": "Waiting for the worker's position…",
    "orders.cancel": "Cancel",
    "orders.cancel_confirm": "Cancel this booking? A fee may apply once a worker is on it.",
    "orders.cancelled": "Cancelled.",
    "orders.fee": "Cancellation fee: {fee}",
    "orders.chat_worker": "Chat with the worker",
    "orders.price": "Price",
    "orders.timeline": "Timeline",
    "timeline.created": "Booked",
    "timeline.paid": "Paid",
    "timeline.offered": "Looking for a worker",
    "timeline.accepted": "A worker accepted",
    "timeline.assigned": "Support assigned a worker",
    "timeline.departed": "On the way",
    "timeline.arrived": "Arrived",
    "timeline.started": "Service started",
    "timeline.completed": "Finished",
    "timeline.finished": "Finished",
    "timeline.redo_booked": "A free redo was booked",
    "timeline.refund_requested": "Refund asked for",
    "timeline.refund_failed": "The refund did not go through yet",
    "timeline.payment_failed": "A payment failed",
    "timeline.complaint_rejected": "Complaint closed",
    "timeline.cancelled": "Cancelled",
    "timeline.expired": "Expired unpaid",
    "timeline.late": "The worker is running late",
    "timeline.escalated": "Support is finding a worker",
    "timeline.redispatched": "Offered to another worker",
    "timeline.refunded": "Refunded",
    "timeline.complaint_filed": "Complaint filed",
    "timeline.complaint_resolved": "Complaint resolved",
    "timeline.coupon_redeemed": "Coupon used",
    "timeline.coupon_released": "Coupon given back",
    "timeline.arrival_flagged": "Arrival checked by support",
    "timeline.reviewed": "Reviewed",
    "timeline.eta": "ETA {m} min",
    "timeline.distance": "{m} m from the address",
    "review.title": "Review the service",
    "review.quality": "Quality",
    "review.attitude": "Attitude",
    "review.skill": "Skill",
    "review.comment": "Comment",
    "review.photos": "Photos or a video",
    "review.submit": "Send the review",
    "review.thanks": "Thank you for your review.",
    "review.yours": "Your review",
    "review.reply": "The worker replied: {text}",
    "complaint.title": "Something went wrong? Complain",
    "complaint.what": "What happened",
    "complaint.body": "Tell us more",
    "complaint.files": "Photos, a video or a PDF",
    "complaint.submit": "File the complaint",
    "complaint.filed": "Complaint filed: support will answer.",
    "complaint.yours": "Your complaints",
    "complaint.support_says": "Support: {text}",
    "complaint.answer": "Answer: {text}",
    "complaint.category.quality": "Quality of the work",
    "complaint.category.lateness": "Lateness",
    "complaint.category.damage": "Damage",
    "complaint.category.behaviour": "Behaviour",
    "complaint.category.billing": "Billing",
    "complaint.category.safety": "Safety",
    "complaint.category.other": "Other",
    "complaint.status.open": "Received",
    "complaint.status.investigating": "Being looked into",
    "complaint.status.resolved": "Resolved",
    "complaint.status.rejected": "Closed",
    "chat.title": "Conversations",
    "chat.support": "Chat with support",
    "chat.support_title": "Support",
    "chat.support_resolved": "Support (resolved)",
    "chat.booking_title": "{service}, {when} · {worker}",
    "chat.worker_title": "Worker {worker}",
    "chat.none": "No conversations yet.",
    "chat.queue": "You are number {n} in the queue.",
    "chat.agent_joined": "An agent is with you.",
    "chat.resolved": "Support marked the conversation resolved.",
    "me.points": "Points",
    "me.points_balance": "{n} points",
    "me.spending": "Spending",
    "me.spending_totals": "Paid {paid} · refunded {refunded} · net {net}",
    "me.coupons": "My coupons",
    "me.no_coupons": "No coupons.",
    "me.claimable": "Coupons to claim",
    "me.claim": "Claim",
    "me.claimed": "Coupon added to your wallet.",
    "me.until": "until {day}",
    "points.earned": "Earned",
    "points.redeemed": "Spent",
    "points.returned": "Given back",
    "points.compensation": "Compensation",
    "points.expired": "Expired",
    "points.adjusted": "Adjusted",
    "spending.payment": "Paid",
    "spending.refund": "Refunded",
    "spending.cancellation_fee": "Cancellation fee",
  },
  zh: {
    "customer.title": "到家服务",
    "tab.home": "服务",
    "tab.orders": "订单",
    "tab.chat": "聊天",
    "tab.inbox": "消息",
    "tab.me": "我的",
    "home.search": "搜索：擦玻璃、保洁、育儿嫂…",
    "home.all": "全部",
    "home.no_services": "没有匹配的服务。",
    "home.matched": "匹配{by}：{term}",
    "match.name": "名称",
    "match.category": "分类",
    "match.synonym": "同义词",
    "match.keyword": "关键词",
    "match.description": "描述",
    "match.pinyin": "拼音",
    "match.fuzzy": "相近拼写",
    "home.per_hour": "{price} / 小时",
    "home.from": "{price} 起",
    "home.hours": "{opens}–{closes}",
    "home.durations": "{min}–{max} 分钟",
    "home.book": "预约",
    "home.workers": "我家附近的服务人员",
    "home.no_workers": "暂无服务人员覆盖您的地址。",
    "worker.summary": "{years} 年经验 · {level}",
    "worker.about": "{age} 岁 · {years} 年经验 · {level}",
    "worker.km": "{km} 公里",
    "worker.no_rating": "暂无评价",
    "worker.training": "培训：{list}",
    "worker.book": "预约{name}",
    "worker.reviews": "评价",
    "worker.no_reviews": "暂无评价。",
    "worker.more_reviews": "更多评价",
    "level.junior": "初级",
    "level.intermediate": "中级",
    "level.senior": "高级",
    "book.title": "预约：{service}",
    "book.with": "指定 {name}（优先派单给她/他）",
    "book.date": "日期",
    "book.time": "开始时间",
    "book.duration": "时长",
    "book.minutes": "{m} 分钟",
    "book.address": "地址",
    "book.no_address": "请先添加地址，服务人员才知道去哪里。",
    "book.requests": "给服务人员的备注",
    "book.coupon": "优惠券",
    "book.best_coupon": "自动选择最优惠的券",
    "book.no_coupon": "不使用优惠券",
    "book.points": "使用积分",
    "book.submit": "下单并支付",
    "book.made": "下单成功，请支付后开始派单。",
    "book.made_paid": "下单成功，已用套餐支付，正在派单。",
    "book.package": "使用套餐",
    "book.no_package": "不使用，单独支付",
    "book.package_visit": "{name}（剩余 {left} 次）",
    "quote.error.visit_too_long": "超过套餐单次时长，请选择更短的时长。",
    "quote.error.package_other_service": "该套餐不适用于此服务。",
    "quote.error.package_not_paid": "该套餐尚未支付。",
    "quote.error.package_expired": "该套餐已过期。",
    "quote.error.package_used_up": "该套餐次数已用完。",
    "quote.error.slot_too_soon": "开始时间太近，请选择更晚的时间。",
    "quote.error.slot_too_far": "日期太远了。",
    "quote.error.outside_service_hours": "不在服务时间内。",
    "quote.error.points_exceed_cap": "积分过多：最多可用 {max}。",
    "quote.error.points_insufficient": "积分不足。",
    "price.base": "服务费（{minutes} 分钟）",
    "price.total": "合计",
    "price.worker_pay": "其中服务人员约得",
    "price.weekend": "周末加价",
    "price.short_notice": "24 小时内预约加价",
    "price.chosen_worker": "指定服务人员",
    "price.first_booking": "首单优惠",
    "price.long_job": "长时优惠",
    "price.coupon": "优惠券：{label}",
    "price.points": "积分抵扣",
    "price.package": "套餐抵扣",
    "price.redo": "免费返工",
    "orders.title": "我的订单",
    "orders.none": "暂无订单，去预约一个服务吧。",
    "orders.worker": "服务人员：{name}",
    "orders.map": "服务人员与您的地址",
    "orders.home": "家",
    "orders.the_worker": "服务人员",
    "orders.eta": "预计 {time} 到达",
    "orders.away": "距离 {km} 公里",
    "orders.waiting_position": "正在获取服务人员位置…",
    "orders.cancel": "取消订单",
    "orders.cancel_confirm": "确定取消？服务人员接单后取消可能收取费用。",
    "orders.cancelled": "已取消。",
    "orders.fee": "取消费：{fee}",
    "orders.chat_worker": "联系服务人员",
    "orders.price": "价格",
    "orders.timeline": "订单进度",
    "timeline.created": "已下单",
    "timeline.paid": "已支付",
    "timeline.offered": "正在派单",
    "timeline.accepted": "服务人员已接单",
    "timeline.assigned": "客服已指派服务人员",
    "timeline.departed": "已出发",
    "timeline.arrived": "已到达",
    "timeline.started": "开始服务",
    "timeline.completed": "服务完成",
    "timeline.finished": "服务完成",
    "timeline.redo_booked": "已安排免费返工",
    "timeline.refund_requested": "已申请退款",
    "timeline.refund_failed": "退款暂未成功",
    "timeline.payment_failed": "支付失败",
    "timeline.complaint_rejected": "投诉已关闭",
    "timeline.cancelled": "已取消",
    "timeline.expired": "未支付已过期",
    "timeline.late": "服务人员可能迟到",
    "timeline.escalated": "客服正在为您安排",
    "timeline.redispatched": "已改派",
    "timeline.refunded": "已退款",
    "timeline.complaint_filed": "已投诉",
    "timeline.complaint_resolved": "投诉已处理",
    "timeline.coupon_redeemed": "已使用优惠券",
    "timeline.coupon_released": "优惠券已退回",
    "timeline.arrival_flagged": "到达位置待客服核实",
    "timeline.reviewed": "已评价",
    "timeline.eta": "预计 {m} 分钟到达",
    "timeline.distance": "距地址 {m} 米",
    "review.title": "评价本次服务",
    "review.quality": "服务质量",
    "review.attitude": "服务态度",
    "review.skill": "专业技能",
    "review.comment": "评价内容",
    "review.photos": "照片或视频",
    "review.submit": "提交评价",
    "review.thanks": "感谢您的评价。",
    "review.yours": "我的评价",
    "review.reply": "服务人员回复：{text}",
    "complaint.title": "遇到问题？投诉",
    "complaint.what": "问题类型",
    "complaint.body": "详细描述",
    "complaint.files": "照片、视频或 PDF",
    "complaint.submit": "提交投诉",
    "complaint.filed": "投诉已提交，客服会尽快处理。",
    "complaint.yours": "我的投诉",
    "complaint.support_says": "客服：{text}",
    "complaint.answer": "处理结果：{text}",
    "complaint.category.quality": "服务质量",
    "complaint.category.lateness": "迟到",
    "complaint.category.damage": "物品损坏",
    "complaint.category.behaviour": "服务态度",
    "complaint.category.billing": "费用问题",
    "complaint.category.safety": "安全问题",
    "complaint.category.other": "其他",
    "complaint.status.open": "已受理",
    "complaint.status.investigating": "处理中",
    "complaint.status.resolved": "已解决",
    "complaint.status.rejected": "已关闭",
    "chat.title": "会话",
    "chat.support": "联系客服",
    "chat.support_title": "客服",
    "chat.support_resolved": "客服（已结束）",
    "chat.booking_title": "{service}，{when} · {worker}",
    "chat.worker_title": "服务人员 {worker}",
    "chat.none": "暂无会话。",
    "chat.queue": "您前面还有 {n} 位。",
    "chat.agent_joined": "客服已接入。",
    "chat.resolved": "客服已结束会话。",
    "me.points": "积分",
    "me.points_balance": "{n} 积分",
    "me.spending": "消费记录",
    "me.spending_totals": "支付 {paid} · 退款 {refunded} · 实付 {net}",
    "me.coupons": "我的优惠券",
    "me.no_coupons": "暂无优惠券。",
    "me.claimable": "可领取的优惠券",
    "me.claim": "领取",
    "me.claimed": "优惠券已领取。",
    "me.until": "{day} 前有效",
    "points.earned": "获得",
    "points.redeemed": "抵扣",
    "points.returned": "退回",
    "points.compensation": "补偿",
    "points.expired": "过期",
    "points.adjusted": "调整",
    "spending.payment": "支付",
    "spending.refund": "退款",
    "spending.cancellation_fee": "取消费",
  },
});

main();
