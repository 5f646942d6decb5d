// The order monitor: bookings under way, live from the console stream, and one booking with its
// whole timeline (booking:get, then each booking:updated entry) and the console's actions on it:
// re-dispatch, manual assignment and refund (the booking:* events of /support).
import { lang, pick, t, timeOf, when } from "../shared/i18n.js";
import { noteText, reasonText } from "../shared/timeline.js";
import { fill, h, showError, toast } from "../shared/ui.js";
import { label, money, short, yuanToCents } from "./util.js";

const REDISPATCHABLE = new Set(["accepted", "on_the_way"]);

export class OrdersPanel {
  constructor(c) {
    this.c = c;
    this.selected = null;
    c.onChange(() => this.render());
    c.hub.on("reconnected", () => this.selected && this.load(this.selected));
  }

  render() {
    const c = this.c;
    const { active, done } = c.state.monitoredBookings();
    const list = document.getElementById("orders");
    if (!c.state.snapshot) fill(list, h("li", { class: "muted" }, t("common.loading")));
    else fill(list, active.length ? active.map((b) => this.#row(b)) : h("li", { class: "muted empty" }, t("orders.none")));
    fill(document.getElementById("orders-done"), done.map((b) => this.#row(b)));
    this.#renderDetail();
  }

  #row(booking) {
    const c = this.c;
    return h(
      "li",
      {
        class: `order${booking.id === this.selected ? " selected" : ""}`,
        "data-booking": booking.id,
        "data-status": booking.status,
        onclick: () => this.open(booking.id),
      },
      h(
        "div",
        { class: "row" },
        h("span", { class: `pill status ${booking.status}` }, t(`status.${booking.status}`)),
        h("strong", { class: "grow" }, pick(booking.service, "name")),
        h("small", {}, `${when(booking.slot_start, { month: "numeric", day: "numeric" })} ${timeOf(booking.slot_start)}`),
      ),
      h(
        "small",
        {},
        `#${short(booking.id)} · ${c.name("customer", booking.customer_id)} → `,
        booking.worker_id ? c.name("worker", booking.worker_id) : t("order.no_worker"),
        booking.status === "on_the_way" && booking.eta_at ? ` · ${t("order.eta")} ${timeOf(booking.eta_at)}` : "",
      ),
    );
  }

  async open(bookingId) {
    this.selected = bookingId;
    this.c.show("order");
    this.render();
    await this.load(bookingId);
  }

  async load(bookingId) {
    const answer = await this.c.hub.call("booking:get", { booking_id: bookingId });
    if (!answer.ok) return showError(answer.error);
    const { timeline, ...booking } = answer.data;
    this.c.state.noteBooking(booking);
    this.c.state.openTimeline(bookingId, timeline);
    this.c.changed();
  }

  #renderDetail() {
    const view = document.getElementById("view-order");
    const c = this.c;
    if (!this.selected) return fill(view, h("p", { class: "muted" }, t("orders.select")));
    const booking = c.state.bookings.get(this.selected);
    const timeline = c.state.timeline(this.selected);
    if (!booking || !timeline) return fill(view, h("p", { class: "muted" }, t("common.loading")));

    let detail = view.querySelector("#booking-detail");
    if (!detail || detail.dataset.booking !== booking.id) {
      detail = h(
        "div",
        { id: "booking-detail", "data-booking": booking.id },
        h("div", { class: "summary" }),
        h("h3", { "data-i18n": "order.timeline" }, t("order.timeline")),
        h("ol", { id: "booking-timeline", class: "timeline" }),
        h("h3", { "data-i18n": "order.actions" }, t("order.actions")),
        h("div", { class: "actions" }),
      );
      fill(view, detail);
    }
    detail.dataset.status = booking.status;
    detail.dataset.version = String(booking.version);
    fill(detail.querySelector(".summary"), this.#summary(booking));
    fill(
      detail.querySelector("#booking-timeline"),
      timeline.map((entry) =>
        h(
          "li",
          { "data-kind": entry.kind, "data-entry": entry.id, "data-status": entry.status },
          h("strong", {}, label("tl", entry.kind)),
          " ",
          h("small", {}, when(entry.at), entry.actor_id ? ` · ${c.name(entry.actor_role, entry.actor_id)}` : ""),
          entry.note ? h("div", { class: "note" }, noteText(entry)) : null,
          entryDetails(entry),
        ),
      ),
    );
    // The actions' forms are drawn again only when what they can do changed, not while typing.
    const actions = detail.querySelector(".actions");
    const drawn = `${booking.id}:${booking.status}:${lang()}`;
    if (actions.dataset.drawn !== drawn) {
      actions.dataset.drawn = drawn;
      fill(actions, bookingActions(c, booking.id, booking, { prefix: "" }));
    }
  }

  #summary(booking) {
    const c = this.c;
    const row = (key, ...value) => h("tr", {}, h("th", {}, t(key)), h("td", {}, ...value));
    return [
      h(
        "div",
        { class: "row" },
        h("span", { id: "booking-status", class: `pill status ${booking.status}` }, t(`status.${booking.status}`)),
        h("h2", { class: "grow" }, pick(booking.service, "name")),
        h("small", {}, `#${short(booking.id)}`),
      ),
      h(
        "table",
        { class: "facts" },
        row("order.customer", c.name("customer", booking.customer_id)),
        row("order.worker", booking.worker_id ? c.name("worker", booking.worker_id) : t("order.no_worker")),
        row("order.slot", `${when(booking.slot_start)} – ${timeOf(booking.slot_end)}`),
        row("order.address", `${booking.address.label} · ${booking.address.line}, ${booking.address.city}`),
        row("order.total", money(booking.total_cents)),
        booking.eta_at && booking.status === "on_the_way" ? row("order.eta", when(booking.eta_at)) : null,
      ),
    ];
  }
}

function entryDetails(entry) {
  const d = entry.data || {};
  const parts = [];
  if (d.eta_minutes !== undefined) parts.push(t("tl.eta", { m: d.eta_minutes }));
  if (d.distance_m !== undefined) parts.push(t("tl.distance", { m: d.distance_m }));
  if (d.amount_cents !== undefined) parts.push(money(d.amount_cents));
  if (d.worker_id) parts.push(d.worker_id);
  if (d.reason && d.reason !== entry.note) parts.push(reasonText(entry) ?? String(d.reason));
  return parts.length ? h("div", { class: "muted" }, parts.join(" · ")) : null;
}

/**
 * The console's actions on a booking, as forms: re-dispatch, assign a worker, refund. With
 * `itemId` each names the work item it answers (kept in the item's history). Ids carry `prefix`
 * so that the item panel and the order panel can both show them.
 */
export function bookingActions(c, bookingId, booking, { itemId = null, prefix = "" }) {
  const status = booking?.status;
  const withItem = (payload) => (itemId ? { ...payload, item_id: itemId } : payload);
  const after = (answer, message) => {
    if (!answer.ok) return showError(answer.error) || false;
    const { timeline, ...rest } = answer.data || {};
    if (rest.id && rest.version) c.state.noteBooking(rest);
    if (timeline) c.state.addTimeline(bookingId, timeline);
    toast(message);
    c.changed();
    if (itemId) c.items.load(itemId);
    return true;
  };
  const forms = [];

  if (!status || REDISPATCHABLE.has(status)) {
    const reason = h("input", { id: `${prefix}redispatch-reason`, placeholder: t("order.redispatch_reason"), maxlength: 500 });
    forms.push(
      h(
        "form",
        {
          class: "row",
          onsubmit: async (e) => {
            e.preventDefault();
            const answer = await c.hub.call("booking:redispatch", withItem({ booking_id: bookingId, reason: reason.value.trim() }));
            after(answer, t("order.redispatched"));
          },
        },
        reason,
        h("button", { id: `${prefix}redispatch`, type: "submit" }, t("order.redispatch")),
      ),
    );
  }

  if (!status || status === "dispatching") {
    const online = c.board
      ? [...c.board.workers.values()].filter((s) => s.status === "online").map((s) => s.user_id)
      : [];
    const worker = h("input", { id: `${prefix}assign-worker-id`, placeholder: t("order.assign_worker"), list: `${prefix}assign-workers` });
    forms.push(
      h(
        "form",
        {
          class: "row",
          onsubmit: async (e) => {
            e.preventDefault();
            const id = worker.value.trim();
            if (!id) return;
            const answer = await c.hub.call("booking:assign", withItem({ booking_id: bookingId, worker_id: id }));
            after(answer, t("order.assigned", { worker: id }));
          },
        },
        worker,
        h("datalist", { id: `${prefix}assign-workers` }, online.map((id) => h("option", { value: id }, c.name("worker", id)))),
        h("button", { id: `${prefix}assign-worker`, type: "submit" }, t("order.assign")),
      ),
    );
  }

  if (!booking || booking.paid_at) {
    const amount = h("input", { id: `${prefix}refund-amount`, type: "number", min: "0.01", step: "0.01", placeholder: t("order.refund_amount") });
    const reason = h("input", { id: `${prefix}refund-reason`, placeholder: t("order.refund_reason"), maxlength: 200, required: true });
    // One client_id per refund meant: a retry after a lost answer is the same refund, never a
    // second one; changing the form means another refund.
    let clientId = crypto.randomUUID();
    for (const input of [amount, reason]) input.addEventListener("input", () => (clientId = crypto.randomUUID()));
    forms.push(
      h(
        "form",
        {
          class: "row refund",
          onsubmit: async (e) => {
            e.preventDefault();
            const payload = withItem({ booking_id: bookingId, client_id: clientId, reason: reason.value.trim() });
            const cents = yuanToCents(amount.value);
            if (cents) payload.amount_cents = cents;
            let answer = await c.hub.call("booking:refund", payload);
            if (!answer.ok && ["timeout", "db_unavailable"].includes(answer.error.code)) {
              answer = await c.hub.call("booking:refund", payload); // the same client_id: at most one refund
            }
            if (after(answer, t("order.refund_done", { amount: money(answer.data?.amount_cents), status: answer.data?.status }))) {
              clientId = crypto.randomUUID();
              amount.value = "";
              reason.value = "";
              c.orders.load(bookingId);
            }
          },
        },
        amount,
        reason,
        h("button", { id: `${prefix}refund`, type: "submit", class: "danger" }, t("order.refund")),
      ),
    );
  }
  return forms;
}
