// Work items: the queue by priority, and one item with its history, its steps (acknowledge,
// assign, note, resolve) and what can be done about its booking or complaint.
import { lang, t, when } from "../shared/i18n.js";
import { fill, h, showError, toast } from "../shared/ui.js";
import { bookingActions } from "./orders.js";
import { label, money, yuanToCents } from "./util.js";

const COMPLAINT_KINDS = new Set(["complaint", "complaint_overdue"]);

export class ItemsPanel {
  constructor(c) {
    this.c = c;
    this.selected = null; // item id
    this.detail = null; // {item, history} from item:get
    this.complaint = null; // the complaint of a complaint item (complaint:get)
    this.loading = null;
    c.onChange(() => this.render());
    c.hub.on("item:updated", (update) => {
      if (update.item.id === this.selected) this.load(this.selected); // its history moved
    });
    c.hub.on("reconnected", () => this.selected && this.load(this.selected));
  }

  render() {
    const c = this.c;
    const list = document.getElementById("items");
    if (!c.state.snapshot) {
      fill(list, h("li", { class: "muted" }, t("common.loading")));
    } else {
      const items = c.state.openItems();
      fill(
        list,
        items.length
          ? items.map((item) => this.#row(item))
          : h("li", { class: "muted empty" }, t("items.none")),
      );
    }
    this.#renderDetail();
  }

  #row(item) {
    const c = this.c;
    return h(
      "li",
      {
        class: `item p-${item.priority}${item.id === this.selected ? " selected" : ""}`,
        "data-item": item.id,
        "data-kind": item.kind,
        "data-booking": item.booking_id || "",
        "data-priority": item.priority,
        "data-state": item.state,
        "data-version": item.version,
        onclick: () => this.select(item.id),
      },
      h(
        "div",
        { class: "row" },
        h("span", { class: `pill priority ${item.priority}` }, t(`priority.${item.priority}`)),
        h("strong", { class: "kind" }, label("kind", item.kind)),
        h("span", { class: `pill state ${item.state}` }, t(`item.state.${item.state}`)),
      ),
      h("div", { class: "title" }, item.title),
      h(
        "small",
        {},
        item.owner ? t("items.owner", { owner: c.name(item.owner.role, item.owner.id) }) : t("items.unowned"),
        item.due_at ? ` · ${t("items.due", { time: when(item.due_at) })}` : "",
        ` · ${when(item.opened_at)}`,
      ),
    );
  }

  async select(itemId) {
    this.selected = itemId;
    this.detail = null;
    this.complaint = null;
    this.c.show("item");
    this.render();
    await this.load(itemId);
  }

  async load(itemId) {
    const answer = await this.c.hub.call("item:get", { item_id: itemId });
    if (this.selected !== itemId) return;
    if (!answer.ok) return showError(answer.error);
    this.detail = answer.data;
    const item = answer.data.item;
    if (COMPLAINT_KINDS.has(item.kind) && item.data?.complaint_id) {
      const complaint = await this.c.hub.call("complaint:get", { complaint_id: item.data.complaint_id });
      if (complaint.ok && this.selected === itemId) this.complaint = complaint.data;
    }
    this.#renderDetail();
  }

  /** The newest copy of the selected item: the stream's if it is ahead of item:get's. */
  #item() {
    const fromState = this.c.state.items.get(this.selected);
    const fromDetail = this.detail?.item;
    if (!fromDetail) return fromState || null;
    return fromState && fromState.version > fromDetail.version ? fromState : fromDetail;
  }

  #renderDetail() {
    const view = document.getElementById("view-item");
    if (!this.selected) return fill(view, h("p", { class: "muted" }, t("items.select")));
    const item = this.#item();
    if (!item) return fill(view, h("p", { class: "muted" }, t("common.loading")));
    // The form being typed in stays: a redraw of the detail only replaces what is not a form.
    const drawn = `${item.id}:${item.version}:${this.complaint?.version ?? ""}:${lang()}`;
    if (view.dataset.drawn === drawn) {
      this.#refreshHistory(view);
      return;
    }
    view.dataset.drawn = drawn;
    const c = this.c;
    const open = item.state !== "resolved";
    fill(
      view,
      h(
        "div",
        { id: "item-detail", "data-item": item.id, "data-state": item.state, "data-kind": item.kind },
        h(
          "div",
          { class: "row" },
          h("span", { class: `pill priority ${item.priority}` }, t(`priority.${item.priority}`)),
          h("h2", { class: "grow" }, label("kind", item.kind)),
          h("span", { id: "item-state", class: `pill state ${item.state}` }, t(`item.state.${item.state}`)),
        ),
        h("p", {}, item.title),
        h(
          "p",
          { class: "muted" },
          item.owner ? t("items.owner", { owner: c.name(item.owner.role, item.owner.id) }) : t("items.unowned"),
          item.person ? ` · ${t("item.person", { role: item.person.role, id: c.name(item.person.role, item.person.id) })}` : "",
          item.due_at ? ` · ${t("items.due", { time: when(item.due_at) })}` : "",
        ),
        item.resolution ? h("p", { class: "notice" }, item.resolution) : null,
        item.booking_id
          ? h(
              "button",
              { id: "item-open-order", type: "button", class: "ghost", onclick: () => c.orders.open(item.booking_id) },
              t("item.open_order"),
            )
          : null,
        open ? this.#steps(item) : null,
        open && item.booking_id && !COMPLAINT_KINDS.has(item.kind) ? this.#bookingActions(item) : null,
        this.complaint ? this.#complaint(this.complaint, item) : null,
        h("h3", {}, t("item.history")),
        h("ol", { id: "item-history", class: "timeline" }),
      ),
    );
    this.#refreshHistory(view);
  }

  #refreshHistory(view) {
    const list = view.querySelector("#item-history");
    if (!list || !this.detail) return;
    fill(
      list,
      this.detail.history.map((step) =>
        h(
          "li",
          { "data-action": step.action },
          h("strong", {}, label("history", step.action)),
          " ",
          h("small", {}, `${this.c.name(step.actor.role, step.actor.id)} · ${when(step.at)}`),
          step.note ? h("div", {}, step.note) : null,
          step.data?.booking_id && step.action === "acted" ? h("div", { class: "muted" }, JSON.stringify(step.data)) : null,
        ),
      ),
    );
  }

  #steps(item) {
    const c = this.c;
    const call = async (event, payload, done) => {
      const answer = await c.hub.call(event, payload);
      if (!answer.ok) return showError(answer.error);
      c.state.noteItem(answer.data);
      if (done) done(answer.data);
      this.load(item.id);
    };
    const agents = h(
      "select",
      { id: "item-assign-agent" },
      c.onlineAgents({ includeMe: true }).map((a) =>
        h("option", { value: `${a.role}:${a.user_id}` }, c.name(a.role, a.user_id)),
      ),
    );
    const note = h("textarea", { id: "item-note-text", rows: 2, placeholder: t("item.note_placeholder") });
    const resolution = h("textarea", { id: "item-resolve-text", rows: 2, placeholder: t("item.resolve_placeholder") });
    return h(
      "div",
      { class: "steps" },
      h(
        "div",
        { class: "row" },
        item.state === "open"
          ? h("button", { id: "item-ack", type: "button", class: "primary", onclick: () => call("item:acknowledge", { item_id: item.id }) }, t("item.ack"))
          : null,
        h("span", {}, t("item.assign")),
        agents,
        h(
          "button",
          {
            id: "item-assign",
            type: "button",
            onclick: () => {
              if (!agents.value) return;
              const [role, id] = agents.value.split(":");
              call("item:assign", { item_id: item.id, agent_id: id, agent_role: role });
            },
          },
          t("item.assign_me"),
        ),
      ),
      h(
        "form",
        {
          class: "row",
          onsubmit: (e) => {
            e.preventDefault();
            if (note.value.trim()) call("item:note", { item_id: item.id, note: note.value.trim() }, () => (note.value = ""));
          },
        },
        note,
        h("button", { id: "item-note", type: "submit" }, t("item.note")),
      ),
      h(
        "form",
        {
          class: "row",
          onsubmit: (e) => {
            e.preventDefault();
            const text = resolution.value.trim();
            if (text) call("item:resolve", { item_id: item.id, note: text }, () => toast(t("item.state.resolved")));
          },
        },
        resolution,
        h("button", { id: "item-resolve", type: "submit", class: "primary" }, t("item.resolve")),
      ),
    );
  }

  #bookingActions(item) {
    const booking = this.c.state.bookings.get(item.booking_id);
    return h(
      "div",
      { class: "item-actions" },
      h("h3", {}, t("order.actions")),
      h("p", { class: "muted" }, t("order.for_item")),
      bookingActions(this.c, item.booking_id, booking, { itemId: item.id, prefix: "item-" }),
    );
  }

  #complaint(complaint, item) {
    const c = this.c;
    const call = async (event, payload, done) => {
      const answer = await c.hub.call(event, { complaint_id: complaint.id, ...payload });
      if (!answer.ok) return showError(answer.error);
      this.complaint = answer.data;
      if (done) done(answer.data);
      this.load(item.id);
    };
    const closed = complaint.status === "resolved" || complaint.status === "rejected";
    const text = (id, key) => h("textarea", { id, rows: 2, placeholder: t(key) });
    const note = text("complaint-note-text", "complaint.note");
    const message = text("complaint-message-text", "complaint.message");
    const resolution = h(
      "select",
      { id: "complaint-resolution" },
      ["refund", "redo", "compensation_points", "compensation_coupon", "none"].map((r) =>
        h("option", { value: r }, t(`complaint.res.${r}`)),
      ),
    );
    const fields = {
      amount: h("input", { id: "complaint-amount", type: "number", min: "0.01", step: "0.01", placeholder: t("complaint.amount") }),
      date: h("input", { id: "complaint-date", type: "date" }),
      time: h("input", { id: "complaint-time", type: "time", step: 1800 }),
      points: h("input", { id: "complaint-points", type: "number", min: 1, step: 1, placeholder: t("complaint.points") }),
      coupon: h("input", { id: "complaint-coupon", placeholder: t("complaint.coupon") }),
    };
    const resolveNote = text("complaint-resolve-note", "complaint.note_to_customer");
    const shown = {
      refund: ["amount"],
      redo: ["date", "time"],
      compensation_points: ["points"],
      compensation_coupon: ["coupon"],
      none: [],
    };
    const showFields = () => {
      for (const [name, el] of Object.entries(fields)) el.hidden = !shown[resolution.value].includes(name);
    };
    resolution.addEventListener("change", showFields);
    showFields();
    const reason = text("complaint-reject-reason", "complaint.reason");

    const resolve = () => {
      const kind = resolution.value;
      const payload = { note: resolveNote.value.trim() };
      if (kind === "refund") {
        payload.resolution = "refund";
        const cents = yuanToCents(fields.amount.value);
        if (cents) payload.amount_cents = cents;
      } else if (kind === "redo") {
        Object.assign(payload, { resolution: "redo", date: fields.date.value, start_time: fields.time.value });
      } else if (kind === "compensation_points") {
        Object.assign(payload, { resolution: "compensation", points: Number(fields.points.value) });
      } else if (kind === "compensation_coupon") {
        Object.assign(payload, { resolution: "compensation", coupon_id: fields.coupon.value.trim() });
      } else {
        payload.resolution = "none";
      }
      call("complaint:resolve", payload, () => toast(t("complaint.res." + kind)));
    };

    return h(
      "div",
      { id: "complaint", class: "complaint", "data-complaint": complaint.id, "data-status": complaint.status },
      h("h3", {}, t("complaint.title")),
      h(
        "p",
        {},
        h("strong", {}, `${t("complaint.category")}: `),
        complaint.category,
        " · ",
        h("strong", {}, `${t("complaint.status")}: `),
        h("span", { id: "complaint-status" }, complaint.status),
        complaint.owner?.id ? ` · ${t("items.owner", { owner: c.name(complaint.owner.role, complaint.owner.id) })}` : "",
      ),
      h("blockquote", {}, complaint.body),
      complaint.attachments.length
        ? h("p", {}, complaint.attachments.map((a) => h("a", { href: a.url, download: a.filename || "" }, a.filename || a.upload_id)))
        : null,
      complaint.resolution ? h("p", { class: "notice" }, `${complaint.resolution}: ${JSON.stringify(complaint.outcome || {})}`) : null,
      closed
        ? null
        : h(
            "div",
            { class: "row" },
            h("button", { id: "complaint-take", type: "button", onclick: () => call("complaint:take", {}) }, t("complaint.take")),
            complaint.status === "open"
              ? h("button", { id: "complaint-investigate", type: "button", class: "primary", onclick: () => call("complaint:investigate", {}) }, t("complaint.investigate"))
              : null,
          ),
      h(
        "form",
        {
          class: "row",
          onsubmit: (e) => {
            e.preventDefault();
            if (note.value.trim()) call("complaint:note", { body: note.value.trim() });
          },
        },
        note,
        h("button", { id: "complaint-note", type: "submit" }, t("complaint.note")),
      ),
      closed
        ? null
        : h(
            "form",
            {
              class: "row",
              onsubmit: (e) => {
                e.preventDefault();
                if (message.value.trim()) call("complaint:message", { body: message.value.trim() });
              },
            },
            message,
            h("button", { id: "complaint-message", type: "submit" }, t("complaint.message")),
          ),
      complaint.status === "investigating"
        ? h(
            "form",
            {
              class: "resolve",
              onsubmit: (e) => {
                e.preventDefault();
                resolve();
              },
            },
            h("label", {}, h("span", {}, t("complaint.resolution")), resolution),
            h("div", { class: "row" }, Object.values(fields)),
            resolveNote,
            h("button", { id: "complaint-resolve", type: "submit", class: "primary" }, t("complaint.resolve")),
          )
        : null,
      complaint.status === "investigating"
        ? h(
            "form",
            {
              class: "row",
              onsubmit: (e) => {
                e.preventDefault();
                if (reason.value.trim()) call("complaint:reject", { reason: reason.value.trim() });
              },
            },
            reason,
            h("button", { id: "complaint-reject", type: "submit", class: "danger" }, t("complaint.reject")),
          )
        : null,
      h("h3", {}, t("complaint.history")),
      h(
        "ol",
        { id: "complaint-history", class: "timeline" },
        complaint.history.map((step) =>
          h(
            "li",
            { "data-action": step.action, class: step.to_customer ? "to-customer" : "" },
            h("strong", {}, step.action),
            " ",
            h("small", {}, `${c.name(step.actor.role, step.actor.id)} · ${when(step.at)}`),
            step.body ? h("div", {}, step.body) : null,
            step.data?.points || step.data?.amount_cents
              ? h("div", { class: "muted" }, step.data.points ? `${step.data.points} pts` : money(step.data.amount_cents))
              : null,
          ),
        ),
      ),
    );
  }
}
