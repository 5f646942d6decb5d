// The notification inbox (`#inbox-list`), newest first, with the unread count for a badge. The
// first page comes from `notifications:list`; what follows arrives live or, after a drop, in the
// `sync` replay (the Hub delivers each notification once either way).
import { addStrings, t, when } from "./i18n.js";
import { fill, h, showError } from "./ui.js";

export class Inbox {
  /**
   * @param {import("./hub.js").Hub} hub
   * @param {HTMLElement} root where the inbox goes
   * @param {(unread: number, item?: object) => void} onUnread told the unread count (and what came)
   */
  constructor(hub, root, onUnread = () => {}) {
    this.hub = hub;
    this.onUnread = onUnread;
    this.unread = 0;
    this.list = h("ul", { id: "inbox-list", class: "list" });
    this.markAll = h("button", { id: "inbox-mark-all", type: "button", class: "ghost", "data-i18n": "inbox.mark_all", onclick: () => this.readAll() }, t("inbox.mark_all"));
    fill(root, h("div", { class: "card" }, h("div", { class: "row spread" }, h("h2", { "data-i18n": "inbox.title" }, t("inbox.title")), this.markAll), this.list));
    hub.on("notification", (item) => {
      this.#add(item, true);
      if (!item.read_at) this.#setUnread(this.unread + 1, item);
    });
    hub.on("notifications:unread", ({ unread }) => this.#setUnread(unread));
    hub.on("connected", () => this.load());
  }

  async load() {
    const answer = await this.hub.call("notifications:list", { limit: 50 });
    if (!answer.ok) return showError(answer.error);
    const items = answer.data.items;
    this.list.replaceChildren();
    for (const item of items) this.#add(item, false);
    if (items.length) this.hub.holdNotifications(Math.max(...items.map((i) => i.seq)));
    else this.hub.holdNotifications(0);
    this.#setUnread(answer.data.unread);
  }

  async read(seq) {
    const answer = await this.hub.call("notifications:read", { seq });
    if (!answer.ok) return showError(answer.error);
    this.list.querySelector(`[data-seq="${seq}"]`)?.setAttribute("data-read", "true");
    this.#setUnread(answer.data.unread);
  }

  async readAll() {
    const answer = await this.hub.call("notifications:read", { all: true });
    if (!answer.ok) return showError(answer.error);
    for (const li of this.list.querySelectorAll("li")) li.dataset.read = "true";
    this.#setUnread(answer.data.unread);
  }

  #add(item, newest) {
    if (this.list.querySelector(`[data-seq="${item.seq}"]`)) return;
    const li = h(
      "li",
      { class: "notification", dataset: { seq: item.seq, kind: item.kind, read: String(Boolean(item.read_at)) } },
      h("div", { class: "row spread" }, h("strong", {}, item.title), h("small", {}, when(item.created_at, { timeStyle: "short" }))),
      h("div", {}, item.body),
    );
    li.addEventListener("click", () => li.dataset.read === "false" && this.read(item.seq));
    // Newest first, by seq, whatever the order they came in.
    const before = [...this.list.children].find((other) => Number(other.dataset.seq) < item.seq);
    this.list.insertBefore(li, newest ? before || null : null);
  }

  #setUnread(count, item) {
    this.unread = Math.max(0, count);
    this.onUnread(this.unread, item);
  }
}

addStrings({
  en: { "inbox.title": "Notifications", "inbox.mark_all": "Mark all read" },
  zh: { "inbox.title": "消息通知", "inbox.mark_all": "全部已读" },
});
