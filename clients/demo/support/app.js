// The support console: header figures, the worker board, work items, the order monitor and
// support chat, all live on /support. It follows the console stream as docs/console.md asks:
// the snapshot's seq is where it starts, entries above it apply once (shared/hub.js keeps the
// mark, sends `console_since` on every reconnect, syncs after a gap and drops duplicates), a
// later snapshot rebuilds the state with the entries above it, and `reset` starts again.
import { Hub } from "../shared/hub.js";
import { applyI18n, onLangChange, t } from "../shared/i18n.js";
import { renew, signIn, signOut } from "../shared/login.js";
import { fill, h, showError, showState, tabs, toast, topbar } from "../shared/ui.js";
import { ChatPanel } from "./chat.js";
import { ItemsPanel } from "./items.js";
import { OrdersPanel } from "./orders.js";
import { BOOKING_STATUSES, ConsoleState, localDate, PRESENCE_STATUSES, PRIORITIES } from "./state.js";
import "./strings.js";

// A console that learns of a booking it cannot place asks for a fresh snapshot, at most this often.
const REFRESH_MIN_MS = 2_000;

/** Everything the panels share. */
export class Console {
  constructor(session) {
    this.session = session;
    this.me = { id: session.sub, role: session.role };
    this.state = new ConsoleState();
    this.board = null; // {workers: Map, agents: Map} of presence states; null: unavailable
    this.names = new Map(); // "role:id" -> a person's name (demo data)
    this.listeners = new Set();
    this.renderQueued = false;
    this.refreshing = null;
    this.lastRefresh = 0;
    this.hub = new Hub({
      namespace: "/support",
      token: session.token,
      console: true,
      onState: (state, detail) => {
        showState(state, detail);
        if (detail.code && state === "offline" && detail.code !== "browser_offline" && detail.code !== "closed") {
          toast(t("console.refused", { code: detail.code }), "error");
        }
      },
      renewToken: () => renew(session),
    });
  }

  /** Redraw on the next frame: many entries in a row (a replay) make one redraw. */
  changed() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      for (const fn of this.listeners) fn();
    });
  }

  onChange(fn) {
    this.listeners.add(fn);
  }

  name(role, id) {
    if (!id) return "";
    const name = this.names.get(`${role}:${id}`);
    return name ? `${name} (${id})` : id;
  }

  /** Online agents (support and admins) other than me: whom to assign or transfer to. */
  onlineAgents({ includeMe = false } = {}) {
    if (!this.board) return [];
    return [...this.board.agents.values()].filter(
      (s) => s.status === "online" && (includeMe || s.user_id !== this.me.id || s.role !== this.me.role),
    );
  }

  start() {
    const hub = this.hub;
    hub.on("console:snapshot", (snapshot) => {
      this.state.applySnapshot(snapshot);
      this.#afterApply();
    });
    for (const event of ["item:updated", "booking:updated", "order:alert", "dispatch:escalated"]) {
      hub.on(event, (data) => {
        this.state.applyEntry(event, data);
        this.#afterApply();
      });
    }
    hub.on("console:reset", () => {
      this.state.clear();
      toast(t("console.reset"));
      this.changed();
    });
    hub.on("presence:snapshot", (board) => this.#board(board));
    hub.on("presence:changed", (state) => this.#presence(state));
    hub.on("reconnected", () => this.#reloadBoard());
    // The calendar day turns at midnight in the city: today's figures start again.
    setInterval(() => {
      const today = this.state.snapshot?.bookings?.today?.date;
      if (today && today !== localDate(new Date().toISOString())) this.refresh();
    }, 60_000);
    this.#loadNames();
  }

  /** A fresh snapshot, applied with what came above it (never more often than REFRESH_MIN_MS). */
  async refresh() {
    if (this.refreshing) return this.refreshing;
    const wait = Math.max(0, this.lastRefresh + REFRESH_MIN_MS - Date.now());
    this.refreshing = (async () => {
      if (wait) await new Promise((resolve) => setTimeout(resolve, wait));
      const answer = await this.hub.call("console:snapshot");
      this.lastRefresh = Date.now();
      if (answer.ok) {
        this.state.applySnapshot(answer.data);
        this.changed();
      }
    })();
    try {
      await this.refreshing;
    } finally {
      this.refreshing = null;
    }
  }

  #afterApply() {
    if (this.state.wantSnapshot) this.refresh();
    this.changed();
  }

  #board(board) {
    const byId = (states) => new Map(states.map((s) => [`${s.role}:${s.user_id}`, s]));
    this.board = { workers: byId(board.workers), agents: byId(board.agents) };
    this.changed();
  }

  #presence(state) {
    if (!this.board) return;
    const group = state.role === "worker" ? this.board.workers : this.board.agents;
    group.set(`${state.role}:${state.user_id}`, state);
    this.changed();
  }

  async #reloadBoard() {
    // presence:snapshot comes by itself on every connect; ask again only if it did not.
    if (this.board) return;
    const answer = await this.hub.call("presence:snapshot");
    if (answer.ok) this.#board(answer.data);
  }

  async #loadNames() {
    try {
      const response = await fetch("/api/v1/demo/people");
      if (!response.ok) return; // not in demo mode: ids are shown
      const body = await response.json();
      for (const person of body.items) this.names.set(`${person.role}:${person.sub}`, person.name);
      this.changed();
    } catch {
      // names are a nicety
    }
  }
}

// Header figures and the worker board ----------------------------------------------------------

function renderFigures(c) {
  const today = c.state.todayCounts();
  fill(
    document.getElementById("fig-bookings"),
    h("h2", {}, t("fig.bookings"), today ? h("small", {}, ` ${today.date}`) : null),
    today
      ? h(
          "ul",
          { class: "figures" },
          BOOKING_STATUSES.map((status) =>
            h(
              "li",
              { "data-status": status, class: today.by_status[status] ? "" : "zero" },
              h("strong", { class: "n" }, String(today.by_status[status] || 0)),
              h("span", {}, t(`status.${status}`)),
            ),
          ),
        )
      : h("p", { class: "muted" }, t("common.loading")),
  );

  const workers = c.board ? presenceCounts(c.board.workers) : null;
  fill(
    document.getElementById("fig-workers"),
    h("h2", {}, t("fig.workers")),
    workers
      ? h(
          "ul",
          { class: "figures" },
          PRESENCE_STATUSES.filter((s) => s !== "away").map((status) =>
            h(
              "li",
              { "data-status": status, class: workers[status] ? "" : "zero" },
              h("strong", { class: "n" }, String(workers[status])),
              h("span", {}, t(`presence.${status}`)),
            ),
          ),
        )
      : h("p", { class: "muted" }, c.state.snapshot && !c.state.snapshot.presence ? t("fig.unknown") : t("common.loading")),
  );

  const items = c.state.itemCounts();
  fill(
    document.getElementById("fig-items"),
    h("h2", {}, t("fig.items")),
    items
      ? h(
          "ul",
          { class: "figures" },
          PRIORITIES.map((priority) =>
            h(
              "li",
              { "data-priority": priority, class: items[priority] ? `p-${priority}` : "zero" },
              h("strong", { class: "n" }, String(items[priority])),
              h("span", {}, t(`priority.${priority}`)),
            ),
          ),
        )
      : h("p", { class: "muted" }, t("common.loading")),
  );
}

function presenceCounts(group) {
  const counts = Object.fromEntries(PRESENCE_STATUSES.map((s) => [s, 0]));
  for (const state of group.values()) counts[state.status] += 1;
  return counts;
}

// Busy first (they are on a job), then online, on leave, away, offline; then by id.
const BOARD_ORDER = { busy: 0, online: 1, on_leave: 2, away: 3, offline: 4 };

function renderBoard(c) {
  const list = document.getElementById("board");
  if (!c.board) {
    fill(list, h("li", { class: "muted" }, t("board.unknown")));
    return;
  }
  const workers = [...c.board.workers.values()].sort(
    (a, b) => BOARD_ORDER[a.status] - BOARD_ORDER[b.status] || a.user_id.localeCompare(b.user_id),
  );
  if (!workers.length) {
    fill(list, h("li", { class: "muted" }, t("board.none")));
    return;
  }
  fill(
    list,
    workers.map((s) =>
      h(
        "li",
        { "data-worker": s.user_id, "data-status": s.status },
        h("span", { class: `dot ${s.status}` }),
        h("span", { class: "grow" }, c.name("worker", s.user_id)),
        s.booking_id
          ? h(
              "a",
              { href: "#", class: "job", onclick: (e) => (e.preventDefault(), c.orders.open(s.booking_id)) },
              t("board.job", { id: s.booking_id.slice(0, 8) }),
            )
          : null,
        h("span", { class: `pill presence ${s.status}` }, t(`presence.${s.status}`)),
      ),
    ),
  );
}

// The page -------------------------------------------------------------------------------------

function layout(c, onLogout) {
  const status = h(
    "select",
    {
      id: "agent-status",
      title: t("console.agent_status"),
      onchange: async (e) => {
        const answer = await c.hub.call("presence:set", { status: e.target.value });
        if (!answer.ok) showError(answer.error);
      },
    },
    h("option", { value: "online", "data-i18n": "agent.online" }, t("agent.online")),
    h("option", { value: "away", "data-i18n": "agent.away" }, t("agent.away")),
  );
  const bar = topbar("console.title", { onLogout, who: c.name(c.me.role, c.me.id) });
  bar.querySelector("#connection-state").before(status);

  const detailNav = h("nav", { class: "panel-tabs", role: "tablist" });
  const page = h(
    "div",
    { class: "console" },
    h(
      "section",
      { id: "figures", class: "figures-row" },
      h("div", { id: "fig-bookings", class: "card" }),
      h("div", { id: "fig-workers", class: "card" }),
      h("div", { id: "fig-items", class: "card" }),
    ),
    h(
      "div",
      { class: "console-grid" },
      h(
        "section",
        { id: "items-panel", class: "card panel" },
        h("h2", { "data-i18n": "panel.items" }, t("panel.items")),
        h("p", { id: "items-more", class: "muted", hidden: true, "data-i18n": "items.more" }),
        h("ul", { id: "items", class: "list items" }),
      ),
      h(
        "section",
        { id: "orders-panel", class: "card panel" },
        h("h2", { "data-i18n": "panel.orders" }, t("panel.orders")),
        h("ul", { id: "orders", class: "list orders" }),
        h("h3", { "data-i18n": "orders.done" }, t("orders.done")),
        h("ul", { id: "orders-done", class: "list orders done" }),
      ),
      h(
        "section",
        { id: "detail-panel", class: "card panel detail" },
        detailNav,
        h("div", { id: "view-item", class: "view" }),
        h("div", { id: "view-order", class: "view", hidden: true }),
        h("div", { id: "view-chat", class: "view", hidden: true }),
      ),
      h(
        "section",
        { id: "board-panel", class: "card panel" },
        h("h2", { "data-i18n": "panel.board" }, t("panel.board")),
        h("ul", { id: "board", class: "list board" }),
      ),
      h(
        "section",
        { id: "conversations-panel", class: "card panel" },
        h("h2", { "data-i18n": "panel.conversations" }, t("panel.conversations")),
        h("h3", { "data-i18n": "conv.queue" }, t("conv.queue")),
        h("ul", { id: "queue", class: "list conversations" }),
        h("h3", { "data-i18n": "conv.mine" }, t("conv.mine")),
        h("ul", { id: "mine", class: "list conversations" }),
      ),
    ),
  );
  document.body.prepend(bar);
  fill(document.getElementById("app"), page);
  c.show = tabs(detailNav, ["item", "order", "chat"]);
}

async function main() {
  const role = new URLSearchParams(location.search).get("role") === "admin" ? "admin" : "support";
  applyI18n();
  const session = await signIn(role, document.getElementById("app"));
  const c = new Console(session);
  layout(c, () => {
    c.hub.close();
    signOut(role);
  });
  c.items = new ItemsPanel(c);
  c.orders = new OrdersPanel(c);
  c.chat = new ChatPanel(c);
  c.onChange(() => {
    renderFigures(c);
    renderBoard(c);
    document.getElementById("items-more").hidden = !c.state.snapshot?.items_more;
    document.getElementById("who").textContent = c.name(c.me.role, c.me.id);
    // The status the hub keeps for me (chosen earlier, maybe on another tab).
    const mine = c.board?.agents.get(`${c.me.role}:${c.me.id}`);
    if (mine && (mine.status === "online" || mine.status === "away")) document.getElementById("agent-status").value = mine.status;
  });
  onLangChange(() => {
    showState(c.hub.state, c.hub.stateDetail);
    c.changed();
  });
  // A hook for people and browser tests: the connection, the state and what was applied.
  window.__demo = Object.assign(window.__demo || {}, {
    console: {
      hub: c.hub,
      state: c.state,
      get mark() {
        return c.hub.console?.mark ?? null;
      },
      get applied() {
        return [...c.state.applied];
      },
    },
  });
  c.start();
  applyI18n();
  c.changed();
}

main();
