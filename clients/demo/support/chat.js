// Support chat: the queue of customers waiting, the conversations assigned to me, and one
// conversation with its messages, private notes, canned replies, typing and read ticks; pick,
// transfer, resolve and reopen. shared/hub.js keeps each conversation's mark and replays what
// was missed on reconnect, so a message reaches the handlers once.
import { lang, t, timeOf, when } from "../shared/i18n.js";
import { fill, h, showError, toast } from "../shared/ui.js";
import { CANNED } from "./strings.js";

const TYPING_SHOWN_MS = 4_000;
const TYPING_SENT_EVERY_MS = 2_000;
const AGENT_ROLES = new Set(["support", "admin"]);

export class ChatPanel {
  constructor(c) {
    this.c = c;
    this.queue = [];
    this.mine = new Map(); // id -> conversation summary
    this.selected = null;
    this.messages = new Map(); // conversation id -> Map(seq -> message)
    this.reads = new Map(); // conversation id -> Map("role:id" -> read seq) of the others
    this.typing = null; // {user, until}
    this.typingSentAt = 0;
    const hub = c.hub;
    hub.on("connected", () => this.reload());
    hub.on("reconnected", () => {
      this.reload();
      if (this.selected) this.#history(this.selected);
    });
    hub.on("support:queue_changed", () => this.#loadQueue());
    hub.on("conversation:assigned", (conversation) => {
      const mineNow = this.#isMine(conversation);
      if (mineNow && !this.mine.has(conversation.id)) toast(t("conv.assigned_to_you"));
      this.#update(conversation);
      this.#loadQueue();
    });
    for (const event of ["conversation:resolved", "conversation:reopened", "conversation:transferred"]) {
      hub.on(event, (conversation) => this.#update(conversation));
    }
    hub.on("chat:message", (message) => this.#message(message));
    hub.on("chat:typing", (signal) => this.#typing(signal));
    hub.on("chat:receipt", (receipt) => this.#receipt(receipt));
    hub.on("conversation:lost", ({ conversation_id: id }) => {
      this.mine.delete(id);
      if (this.selected === id) toast(t("conv.lost"), "error");
      this.render();
    });
    c.onChange(() => this.render());
  }

  async reload() {
    await Promise.all([this.#loadQueue(), this.#loadMine()]);
  }

  async #loadQueue() {
    const answer = await this.c.hub.call("support:queue");
    if (answer.ok) this.queue = answer.data.items;
    this.render();
  }

  async #loadMine() {
    const answer = await this.c.hub.call("conversations:list");
    if (!answer.ok) return;
    this.mine = new Map(answer.data.items.filter((cv) => cv.kind === "support").map((cv) => [cv.id, cv]));
    this.render();
  }

  #isMine(conversation) {
    return conversation.assigned_agent_id === this.c.me.id && conversation.assigned_agent_role === this.c.me.role;
  }

  #update(conversation) {
    const known = this.mine.get(conversation.id);
    if (this.#isMine(conversation) || known || this.selected === conversation.id) {
      this.mine.set(conversation.id, { unread: 0, ...known, ...conversation });
    }
    this.render();
  }

  #message(message) {
    const id = message.conversation_id;
    if (!this.messages.has(id)) this.messages.set(id, new Map());
    this.messages.get(id).set(message.seq, message);
    const summary = this.mine.get(id);
    if (this.selected === id) {
      if (!this.#own(message)) this.#read(id, message.seq);
    } else if (summary && !this.#own(message) && message.kind === "text") {
      summary.unread = (summary.unread || 0) + 1;
    }
    if (this.typing?.conversation === id && message.sender?.id === this.typing.user) this.typing = null;
    this.render();
  }

  #typing(signal) {
    if (signal.conversation_id !== this.selected) return;
    if (signal.user_id === this.c.me.id && signal.role === this.c.me.role) return;
    this.typing = signal.typing
      ? { conversation: signal.conversation_id, user: signal.user_id, role: signal.role, until: Date.now() + TYPING_SHOWN_MS }
      : null;
    this.render();
    if (signal.typing) setTimeout(() => this.render(), TYPING_SHOWN_MS + 50);
  }

  #receipt(receipt) {
    if (!this.reads.has(receipt.conversation_id)) this.reads.set(receipt.conversation_id, new Map());
    const reads = this.reads.get(receipt.conversation_id);
    const key = `${receipt.role}:${receipt.user_id}`;
    reads.set(key, Math.max(reads.get(key) || 0, receipt.read_seq || 0));
    if (receipt.conversation_id === this.selected) this.render();
  }

  #own(message) {
    return message.own || (message.sender?.id === this.c.me.id && message.sender?.role === this.c.me.role);
  }

  async pick(conversationId) {
    const answer = await this.c.hub.call("conversation:pick", { conversation_id: conversationId });
    if (!answer.ok) return showError(answer.error);
    toast(t("conv.picked"));
    this.mine.set(answer.data.id, { unread: 0, ...answer.data });
    await this.#loadQueue();
    this.open(answer.data.id);
  }

  async open(conversationId) {
    this.selected = conversationId;
    const summary = this.mine.get(conversationId);
    if (summary) summary.unread = 0;
    this.c.show("chat");
    this.render();
    await this.#history(conversationId);
  }

  async #history(conversationId) {
    const answer = await this.c.hub.call("chat:history", { conversation_id: conversationId, limit: 100 });
    if (!answer.ok) return showError(answer.error);
    if (!this.messages.has(conversationId)) this.messages.set(conversationId, new Map());
    const kept = this.messages.get(conversationId);
    for (const message of answer.data.items) kept.set(message.seq, message);
    const last = Math.max(0, ...answer.data.items.map((m) => m.seq));
    if (last) {
      this.c.hub.holdConversation(conversationId, last);
      this.#read(conversationId, last);
    }
    this.render();
  }

  #read(conversationId, seq) {
    this.c.hub.call("chat:read", { conversation_id: conversationId, seq });
  }

  render() {
    this.#renderLists();
    this.#renderChat();
  }

  #renderLists() {
    const c = this.c;
    fill(
      document.getElementById("queue"),
      this.queue.length
        ? this.queue.map((cv) =>
            h(
              "li",
              { "data-conversation": cv.id, "data-status": cv.status },
              h(
                "div",
                { class: "row" },
                h("strong", { class: "grow" }, `${cv.position}. ${c.name("customer", cv.customer_id)}`),
                h("button", { type: "button", class: "pick primary", onclick: () => this.pick(cv.id) }, t("conv.pick")),
              ),
              h("small", {}, t("conv.waiting_since", { time: when(cv.queued_at || cv.created_at) })),
            ),
          )
        : h("li", { class: "muted empty" }, t("conv.none_waiting")),
    );
    const mine = [...this.mine.values()].sort(
      (a, b) => (a.status === "resolved") - (b.status === "resolved") || (b.last_message_at || "").localeCompare(a.last_message_at || ""),
    );
    fill(
      document.getElementById("mine"),
      mine.length
        ? mine.map((cv) =>
            h(
              "li",
              {
                "data-conversation": cv.id,
                "data-status": cv.status,
                class: cv.id === this.selected ? "selected" : "",
                onclick: () => this.open(cv.id),
              },
              h(
                "div",
                { class: "row" },
                h("strong", { class: "grow" }, c.name("customer", cv.customer_id)),
                h("span", { class: `pill conv ${cv.status}` }, t(`conv.status.${cv.status}`)),
                cv.unread ? h("span", { class: "badge unread" }, String(cv.unread)) : null,
              ),
              cv.last_message_at ? h("small", {}, when(cv.last_message_at)) : null,
            ),
          )
        : h("li", { class: "muted empty" }, t("conv.none_mine")),
    );
  }

  #renderChat() {
    const view = document.getElementById("view-chat");
    const c = this.c;
    if (!this.selected) return fill(view, h("p", { class: "muted" }, t("conv.select")));
    const conversation = this.mine.get(this.selected) || { id: this.selected, status: "assigned", customer_id: "" };
    let chat = view.querySelector("#chat");
    if (!chat || chat.dataset.conversation !== this.selected || chat.dataset.lang !== lang()) {
      chat = this.#chatShell(conversation);
      fill(view, chat);
    }
    chat.dataset.status = conversation.status;
    fill(chat.querySelector(".head"), this.#head(conversation));

    const messages = [...(this.messages.get(this.selected)?.values() || [])].sort((a, b) => a.seq - b.seq);
    const reads = this.reads.get(this.selected) || new Map();
    const readByOthers = Math.max(0, ...[...reads.entries()].filter(([key]) => !AGENT_ROLES.has(key.split(":")[0])).map(([, seq]) => seq));
    const box = chat.querySelector("#chat-messages");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    fill(
      box,
      messages.map((m) => {
        const own = this.#own(m);
        const kind = m.kind === "system" ? "system" : own ? "mine" : "theirs";
        return h(
          "div",
          {
            class: `msg ${kind}${m.private ? " private" : ""}`,
            "data-seq": m.seq,
            "data-private": m.private ? "true" : "false",
            "data-sender": m.sender ? `${m.sender.role}:${m.sender.id}` : "system",
          },
          m.kind !== "system" && !own ? h("small", { class: "who" }, c.name(m.sender?.role, m.sender?.id)) : null,
          m.private ? h("span", { class: "pill warn" }, t("conv.private_tag")) : null,
          h("span", { class: "body" }, m.body),
          (m.attachments || []).length
            ? h("span", { class: "attachments" }, m.attachments.map((a) => h("a", { href: a.url, target: "_blank", rel: "noopener" }, a.filename || a.upload_id)))
            : null,
          h(
            "span",
            { class: "meta" },
            timeOf(m.created_at),
            own && !m.private
              ? h("span", { class: "tick", "data-tick": readByOthers >= m.seq ? "read" : "sent" }, readByOthers >= m.seq ? ` ✓✓ ${t("common.read")}` : ` ✓ ${t("common.sent")}`)
              : null,
          ),
        );
      }),
    );
    if (atBottom) box.scrollTop = box.scrollHeight;
    const typing = this.typing && this.typing.until > Date.now() ? this.typing : null;
    chat.querySelector("#chat-typing").textContent = typing ? `${c.name(typing.role, typing.user)} ${t("common.typing")}` : "";
    const closed = conversation.status === "resolved";
    chat.querySelector("#chat-input").disabled = closed;
    chat.querySelector("#chat-send").disabled = closed;
  }

  #head(conversation) {
    const c = this.c;
    const agents = c.onlineAgents();
    const target = h(
      "select",
      { id: "chat-transfer-agent" },
      agents.map((a) => h("option", { value: `${a.role}:${a.user_id}` }, c.name(a.role, a.user_id))),
    );
    const act = async (event, payload, message) => {
      const answer = await c.hub.call(event, { conversation_id: conversation.id, ...payload });
      if (!answer.ok) return showError(answer.error);
      if (message) toast(message);
      this.#update(answer.data);
      this.#loadMine();
    };
    return [
      h(
        "div",
        { class: "row" },
        h("h2", { class: "grow" }, t("conv.with", { customer: c.name("customer", conversation.customer_id) })),
        h("span", { id: "chat-status", class: `pill conv ${conversation.status}` }, t(`conv.status.${conversation.status}`)),
      ),
      h(
        "div",
        { class: "row" },
        conversation.status === "assigned" && agents.length
          ? [
              h("span", {}, t("conv.transfer")),
              target,
              h(
                "button",
                {
                  id: "chat-transfer",
                  type: "button",
                  onclick: () => {
                    const [role, id] = target.value.split(":");
                    act("conversation:transfer", { agent_id: id, agent_role: role }, t("conv.transferred"));
                  },
                },
                t("conv.transfer_go"),
              ),
            ]
          : null,
        conversation.status !== "resolved"
          ? h("button", { id: "chat-resolve", type: "button", onclick: () => act("conversation:resolve", {}) }, t("conv.resolve"))
          : h("button", { id: "chat-reopen", type: "button", onclick: () => act("conversation:reopen", {}) }, t("conv.reopen")),
      ),
    ];
  }

  #chatShell(conversation) {
    const c = this.c;
    const input = h("textarea", { id: "chat-input", rows: 2, maxlength: 4000, placeholder: t("conv.placeholder") });
    const isPrivate = h("input", { id: "chat-private", type: "checkbox" });
    const canned = h(
      "select",
      {
        id: "canned",
        onchange: (e) => {
          if (!e.target.value) return;
          input.value = e.target.value;
          e.target.value = "";
          input.focus();
        },
      },
      h("option", { value: "" }, t("conv.canned")),
      (CANNED[lang()] || CANNED.en).map((text) => h("option", { value: text }, text)),
    );
    input.addEventListener("input", () => {
      const now = Date.now();
      if (now - this.typingSentAt < TYPING_SENT_EVERY_MS) return;
      this.typingSentAt = now;
      c.hub.call("chat:typing", { conversation_id: conversation.id, typing: true });
    });
    const send = async (e) => {
      e.preventDefault();
      const body = input.value.trim();
      if (!body) return;
      input.value = "";
      this.typingSentAt = 0;
      c.hub.call("chat:typing", { conversation_id: conversation.id, typing: false });
      const answer = await c.hub.sendMessage(conversation.id, body, {
        sender: { id: c.me.id, role: c.me.role },
        private: isPrivate.checked,
      });
      if (!answer.ok) {
        input.value = body;
        showError(answer.error);
      }
    };
    return h(
      "div",
      { id: "chat", class: "chat", "data-conversation": conversation.id, "data-lang": lang() },
      h("div", { class: "head" }),
      h("div", { id: "chat-messages", class: "messages" }),
      h("div", { id: "chat-typing", class: "typing" }),
      h(
        "form",
        { id: "chat-form", onsubmit: send },
        h("div", { class: "compose" }, canned, input, h("label", { class: "inline" }, isPrivate, h("span", {}, t("conv.private")))),
        h("button", { id: "chat-send", type: "submit", class: "primary" }, t("common.send")),
      ),
    );
  }
}
