// How was support? Once a support conversation is resolved, the customer is asked for a score of
// 1 to 5 (`conversation:csat`), once: a conversation rated, or the prompt put aside, is not
// offered again.
import { addStrings, t } from "../shared/i18n.js";
import { h, toast, txt } from "../shared/ui.js";

const DISMISSED_KEY = "demo.csat.dismissed";

export class CsatPrompt {
  /**
   * @param {import("../shared/hub.js").Hub} hub
   * @param {(conversationId: string, score: number) => void} onRated told a score the hub kept
   */
  constructor(hub, onRated) {
    this.hub = hub;
    this.onRated = onRated;
    this.conversationId = null;
    this.score = 0;
    this.scores = [1, 2, 3, 4, 5].map((n) =>
      h("button", { type: "button", class: "csat-score", dataset: { score: n }, "aria-label": String(n), onclick: () => this.#choose(n) }, "★"),
    );
    this.comment = h("textarea", { id: "csat-comment", rows: 2, maxlength: 1000, "data-i18n-placeholder": "csat.comment", placeholder: t("csat.comment") });
    this.submit = txt("button", "csat.submit", { id: "csat-submit", type: "button", class: "primary", disabled: true, onclick: () => this.#send() });
    this.error = h("p", { id: "csat-error", class: "error", hidden: true });
    this.dismiss = txt("button", "csat.later", { id: "csat-dismiss", type: "button", class: "ghost", onclick: () => this.#dismiss() });
    this.root = h(
      "div",
      { id: "csat", class: "notice csat", hidden: true },
      txt("strong", "csat.question"),
      h("div", { class: "stars csat-scores", role: "radiogroup" }, this.scores),
      this.comment,
      this.error,
      h("div", { class: "row" }, this.submit, this.dismiss),
    );
  }

  /** Ask about `conversation` if it is a resolved support conversation nobody rated or put aside. */
  offer(conversation) {
    if (conversation.kind !== "support" || conversation.status !== "resolved" || conversation.csat_score != null) return;
    if (dismissed().includes(conversation.id) || this.conversationId === conversation.id) return;
    this.conversationId = conversation.id;
    this.root.dataset.conversationId = conversation.id;
    this.comment.value = "";
    this.error.hidden = true;
    this.#label(this.dismiss, "csat.later");
    this.#choose(0);
    this.root.hidden = false;
  }

  /** The conversation was rated elsewhere, or reopened: no prompt for it. */
  withdraw(conversationId) {
    if (this.conversationId !== conversationId) return;
    this.conversationId = null;
    this.root.hidden = true;
  }

  #choose(n) {
    this.score = n;
    this.scores.forEach((button, i) => button.classList.toggle("on", i < n));
    this.root.dataset.score = String(n);
    this.submit.disabled = n === 0;
  }

  async #send() {
    const id = this.conversationId;
    const payload = { conversation_id: id, score: this.score };
    const comment = this.comment.value.trim();
    if (comment) payload.comment = comment;
    this.submit.disabled = true;
    const answer = await this.hub.call("conversation:csat", payload);
    this.submit.disabled = false;
    if (answer.ok) {
      this.withdraw(id);
      toast(t("csat.thanks"));
      return this.onRated(id, payload.score);
    }
    const code = answer.error.code;
    const known = ["csat_already_given", "not_resolved", "conversation_not_found"].includes(code);
    this.error.hidden = false;
    this.error.dataset.code = code;
    this.error.textContent = known ? t(`csat.error.${code}`) : t("common.error", { message: answer.error.message });
    if (code === "csat_already_given") {
      this.submit.disabled = true; // nothing more to send; the notice stays until closed
      this.#label(this.dismiss, "common.close");
      this.onRated(id, null);
    }
  }

  #label(button, key) {
    button.dataset.i18n = key;
    button.textContent = t(key);
  }

  #dismiss() {
    if (this.conversationId) remember([...dismissed(), this.conversationId].slice(-50));
    this.conversationId = null;
    this.root.hidden = true;
  }
}

function dismissed() {
  try {
    return JSON.parse(localStorage.getItem(DISMISSED_KEY) || "[]");
  } catch {
    return []; // storage refused or spoilt: every prompt is new
  }
}

function remember(ids) {
  try {
    localStorage.setItem(DISMISSED_KEY, JSON.stringify(ids));
  } catch {
    // storage refused: the prompt comes back on the next visit
  }
}

addStrings({
  en: {
    "csat.question": "Support marked your conversation resolved. How did they do?",
    "csat.comment": "Anything to add? (optional)",
    "csat.submit": "Send my rating",
    "csat.later": "Not now",
    "csat.thanks": "Thank you for rating support.",
    "csat.rated": "rated {score}★",
    "csat.error.csat_already_given": "This conversation was already rated (perhaps on another device).",
    "csat.error.not_resolved": "The conversation is open again: rate it once it is resolved.",
    "csat.error.conversation_not_found": "This conversation can no longer be rated.",
  },
  zh: {
    "csat.question": "客服已结束本次会话，您对服务满意吗？",
    "csat.comment": "还有什么想说的？（选填）",
    "csat.submit": "提交评分",
    "csat.later": "以后再说",
    "csat.thanks": "感谢您的评分。",
    "csat.rated": "已评 {score}★",
    "csat.error.csat_already_given": "该会话已评过分（可能在其他设备上）。",
    "csat.error.not_resolved": "会话已重新打开，结束后再评分。",
    "csat.error.conversation_not_found": "该会话已无法评分。",
  },
});
