// A conversation on screen: history, live messages, typing, delivery and read ticks, attachments.
// Used by the customer app (support and the worker) and the worker app (the customer).
import { addStrings, t, timeOf } from "./i18n.js";
import { fill, h, showError } from "./ui.js";

const TYPING_SHOWN_MS = 5_000; // a "typing" signal lasts this long without a new one
const TYPING_SENT_EVERY_MS = 2_000;
const TYPING_IDLE_MS = 3_000;

export class ChatPanel {
  /**
   * @param {import("./hub.js").Hub} hub
   * @param {{id: string, role: string}} me
   * @param {HTMLElement} root where the panel goes (`#chat`)
   * @param {object} [options]
   * @param {(counts: Map<string, number>) => void} [options.onUnread] unread messages per conversation
   * @param {(conversationId: string) => string} [options.titleOf] a conversation's title
   */
  constructor(hub, me, root, { onUnread = () => {}, titleOf = () => "" } = {}) {
    this.hub = hub;
    this.me = me;
    this.root = root;
    this.onUnread = onUnread;
    this.titleOf = titleOf;
    this.current = null; // the open conversation's id
    this.unread = new Map();
    this.readBy = new Map(); // conversation -> highest seq another member has read
    this.deliveredTo = new Map();
    this.typingTimer = null;
    this.typingSentAt = 0;
    this.idleTimer = null;
    this.#build();
    hub.on("chat:message", (m) => this.#message(m));
    hub.on("chat:typing", (s) => this.#typing(s));
    hub.on("chat:receipt", (r) => this.#receipt(r));
    document.addEventListener("visibilitychange", () => this.#readIfVisible());
  }

  #build() {
    this.title = h("h2", { id: "chat-title" });
    this.messages = h("div", { id: "chat-messages", class: "messages", "aria-live": "polite" });
    this.typingLine = h("div", { id: "chat-typing", class: "typing" });
    this.input = h("textarea", { id: "chat-input", rows: 1, "data-i18n-placeholder": "chat.placeholder", placeholder: t("chat.placeholder") });
    this.file = h("input", { id: "chat-file", type: "file", accept: "image/*,application/pdf,video/mp4", hidden: true });
    this.attachButton = h(
      "button",
      { id: "chat-attach", type: "button", class: "ghost", title: t("common.attach"), onclick: () => this.file.click() },
      "📎",
    );
    this.sendButton = h("button", { id: "chat-send", class: "primary", type: "submit", "data-i18n": "common.send" }, t("common.send"));
    this.closedNote = h("p", { id: "chat-closed", class: "muted", hidden: true });
    const form = h("form", { id: "chat-form" }, this.attachButton, this.file, this.input, this.sendButton);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#send();
    });
    this.input.addEventListener("input", () => this.#typed());
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.#send();
      }
    });
    this.file.addEventListener("change", () => this.#attach());
    fill(this.root, h("div", { class: "chat card" }, this.title, this.messages, this.typingLine, this.closedNote, form));
    this.root.hidden = true;
  }

  /** Show a conversation: its last messages, then everything that comes. */
  async open(conversationId, title = "") {
    this.current = conversationId;
    this.root.hidden = false;
    this.root.dataset.conversationId = conversationId;
    this.title.textContent = title || this.titleOf(conversationId);
    this.messages.replaceChildren(h("p", { class: "muted" }, t("common.loading")));
    this.typingLine.textContent = "";
    // A message that arrives while the history is read may not be in it: kept, drawn after it.
    const arrived = (this.arrivedWhileLoading = []);
    const answer = await this.hub.call("chat:history", { conversation_id: conversationId, limit: 50 });
    if (this.current !== conversationId) return;
    this.arrivedWhileLoading = null;
    if (!answer.ok) {
      showError(answer.error);
      return;
    }
    this.messages.replaceChildren();
    let last = 0;
    for (const message of [...answer.data.items, ...arrived]) {
      this.#render(message);
      last = Math.max(last, message.seq);
    }
    // History is held: live and replayed copies of it are duplicates now.
    if (last) this.hub.holdConversation(conversationId, last);
    this.unread.set(conversationId, 0);
    this.onUnread(this.unread);
    this.#scroll();
    this.#readIfVisible();
  }

  close() {
    this.current = null;
    this.root.hidden = true;
  }

  /** Count what waits in conversations that are not open (from `conversations:list`). */
  setUnread(conversationId, count) {
    this.unread.set(conversationId, count);
    this.onUnread(this.unread);
  }

  #message(message) {
    const id = message.conversation_id;
    if (id === this.current && this.arrivedWhileLoading) {
      this.arrivedWhileLoading.push(message);
    } else if (id === this.current) {
      this.#render(message);
      this.#scroll();
      if (!message.own) this.#readIfVisible();
    } else if (!message.own && message.sender?.id !== this.me.id) {
      this.unread.set(id, (this.unread.get(id) || 0) + 1);
      this.onUnread(this.unread);
      this.hub.call("chat:delivered", { conversation_id: id, seq: message.seq });
    }
  }

  #render(message) {
    if (this.messages.querySelector(`[data-seq="${message.seq}"]`)) return;
    const mine = message.sender?.id === this.me.id && message.sender?.role === this.me.role;
    const kind = message.kind === "system" ? "system" : mine ? "mine" : "theirs";
    const meta = h("span", { class: "meta" }, timeOf(message.created_at));
    if (mine) meta.append(" ", h("span", { class: "tick", "data-tick": "sent" }, "✓"));
    const el = h(
      "div",
      { class: `msg ${kind}`, dataset: { seq: message.seq, sender: message.sender?.id || "" } },
      message.body || "",
      this.#attachments(message.attachments || []),
      meta,
    );
    // Keep the order of seqs whatever the order of arrival (a replay after a live one).
    const after = [...this.messages.querySelectorAll("[data-seq]")].find((other) => Number(other.dataset.seq) > message.seq);
    this.messages.insertBefore(el, after || null);
    this.#tick(el);
  }

  #attachments(list) {
    if (!list.length) return null;
    return h(
      "div",
      { class: "attachments" },
      list.map((a) => {
        const link = h("a", { href: "#", class: "attachment", dataset: { uploadId: a.upload_id } }, `📎 ${a.filename || a.content_type || "file"}`);
        link.addEventListener("click", async (event) => {
          event.preventDefault();
          const file = await this.hub.blob(a.url || `/api/v1/uploads/${a.upload_id}`);
          if (!file.ok) return showError(file.error);
          window.open(URL.createObjectURL(file.blob), "_blank");
        });
        if ((a.content_type || "").startsWith("image/")) this.#thumbnail(link, a);
        return link;
      }),
    );
  }

  async #thumbnail(link, a) {
    const file = await this.hub.blob(a.url || `/api/v1/uploads/${a.upload_id}`);
    if (file.ok) link.prepend(h("img", { src: URL.createObjectURL(file.blob), alt: "", style: "max-width:160px;display:block" }));
  }

  #tick(el) {
    const tick = el.querySelector(".tick");
    if (!tick || !this.current) return;
    const seq = Number(el.dataset.seq);
    const state = seq <= (this.readBy.get(this.current) || 0) ? "read" : seq <= (this.deliveredTo.get(this.current) || 0) ? "delivered" : "sent";
    tick.dataset.tick = state;
    tick.textContent = state === "sent" ? "✓" : "✓✓";
    tick.title = t(`common.${state}`);
  }

  #receipt(receipt) {
    if (receipt.user_id === this.me.id && receipt.role === this.me.role) return;
    const id = receipt.conversation_id;
    this.readBy.set(id, Math.max(this.readBy.get(id) || 0, receipt.read_seq || 0));
    this.deliveredTo.set(id, Math.max(this.deliveredTo.get(id) || 0, receipt.delivered_seq || 0, receipt.read_seq || 0));
    if (id === this.current) for (const el of this.messages.querySelectorAll(".msg.mine")) this.#tick(el);
  }

  #typing(signal) {
    if (signal.conversation_id !== this.current || signal.user_id === this.me.id) return;
    clearTimeout(this.typingTimer);
    this.typingLine.textContent = signal.typing ? t("common.typing") : "";
    if (signal.typing) this.typingTimer = setTimeout(() => (this.typingLine.textContent = ""), TYPING_SHOWN_MS);
  }

  #typed() {
    if (!this.current) return;
    const now = Date.now();
    if (now - this.typingSentAt > TYPING_SENT_EVERY_MS) {
      this.typingSentAt = now;
      this.hub.call("chat:typing", { conversation_id: this.current, typing: true });
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.#stopTyping(), TYPING_IDLE_MS);
  }

  #stopTyping() {
    clearTimeout(this.idleTimer);
    if (!this.current || !this.typingSentAt) return;
    this.typingSentAt = 0;
    this.hub.call("chat:typing", { conversation_id: this.current, typing: false });
  }

  async #send(attachments = []) {
    const body = this.input.value.trim();
    if (!this.current || (!body && !attachments.length)) return;
    this.sendButton.disabled = true;
    this.#stopTyping();
    const answer = await this.hub.sendMessage(this.current, body, { attachments, sender: this.me });
    this.sendButton.disabled = false;
    if (!answer.ok) {
      if (["conversation_closed", "conversation_resolved"].includes(answer.error.code)) {
        this.closedNote.hidden = false;
        this.closedNote.textContent = t(`chat.${answer.error.code}`);
      }
      return showError(answer.error);
    }
    if (body) this.input.value = "";
  }

  async #attach() {
    const file = this.file.files[0];
    this.file.value = "";
    if (!file) return;
    const uploaded = await this.hub.upload(file);
    if (!uploaded.ok) return showError(uploaded.error);
    await this.#send([uploaded.data]);
  }

  /** The panel came into view (its tab was chosen): what is on screen is read. */
  shown() {
    this.#readIfVisible();
  }

  #readIfVisible() {
    // offsetParent is null while the panel or a view around it is hidden.
    if (!this.current || document.visibilityState !== "visible" || this.root.offsetParent === null) return;
    const last = [...this.messages.querySelectorAll(".msg:not(.mine)[data-seq]")].pop();
    if (last) this.hub.call("chat:read", { conversation_id: this.current, seq: Number(last.dataset.seq) });
  }

  #scroll() {
    this.messages.scrollTop = this.messages.scrollHeight;
  }
}

addStrings({
  en: {
    "chat.placeholder": "Write a message",
    "chat.conversation_closed": "This conversation is closed now.",
    "chat.conversation_resolved": "This conversation was resolved; open a new one.",
  },
  zh: {
    "chat.placeholder": "输入消息",
    "chat.conversation_closed": "该会话已关闭。",
    "chat.conversation_resolved": "该会话已结束，请重新发起。",
  },
});
