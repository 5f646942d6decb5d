// The worker's reviews (`#my-reviews`): each review a customer wrote about one of her jobs, as the
// hub told her (a `review` notification names the booking), with a reply form while she has not
// answered it. A review is answered once (POST /api/v1/bookings/{id}/review/reply).
import { addStrings, onLangChange, t, when } from "../shared/i18n.js";
import { fill, h, showError, toast } from "../shared/ui.js";

export class Reviews {
  /**
   * @param {import("../shared/hub.js").Hub} hub
   * @param {HTMLElement} root where the card goes
   */
  constructor(hub, root) {
    this.hub = hub;
    this.root = root;
    this.reviews = new Map(); // booking id -> the booking's review
    hub.on("connected", () => this.load());
    hub.on("reconnected", () => this.load());
    hub.on("notification", (item) => {
      if (item.kind === "review" && item.data?.booking_id) this.fetch(item.data.booking_id);
    });
    onLangChange(() => this.render());
    this.render();
  }

  /** The reviews the inbox tells of (its newest hundred notifications). */
  async load() {
    const answer = await this.hub.call("notifications:list", { limit: 100 });
    if (!answer.ok) return;
    const bookings = new Set(answer.data.items.filter((n) => n.kind === "review").map((n) => n.data?.booking_id));
    bookings.delete(undefined);
    await Promise.all([...bookings].map((id) => this.fetch(id)));
  }

  async fetch(bookingId) {
    const answer = await this.hub.api("GET", `/api/v1/bookings/${bookingId}/review`);
    if (!answer.ok) return; // hidden by staff, or gone: nothing to show
    this.reviews.set(bookingId, answer.data);
    this.render();
  }

  render() {
    const reviews = [...this.reviews.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
    fill(
      this.root,
      h("h2", {}, t("reviews.title")),
      reviews.length
        ? h("ul", { class: "list" }, reviews.map((review) => this.#item(review)))
        : h("p", { class: "muted" }, t("reviews.none")),
    );
  }

  #item(review) {
    const scores = ["quality", "attitude", "skill"].map((k) => `${t(`reviews.${k}`)} ${"★".repeat(review[k])}`).join(" · ");
    return h(
      "li",
      { class: "review", dataset: { reviewId: review.id, bookingId: review.booking_id } },
      h("div", { class: "row spread" }, h("strong", {}, review.author || ""), h("small", {}, when(review.created_at))),
      h("div", {}, scores),
      review.comment ? h("p", { class: "comment" }, review.comment) : null,
      review.reply ? h("p", { class: "reply muted" }, t("reviews.replied", { text: review.reply.text })) : this.#replyForm(review),
    );
  }

  #replyForm(review) {
    const text = h("textarea", { class: "review-reply-text", rows: 2, maxlength: 1000, placeholder: t("reviews.reply_placeholder") });
    const send = h("button", { class: "review-reply-submit primary", type: "submit" }, t("reviews.reply"));
    return h(
      "form",
      {
        class: "row",
        onsubmit: async (event) => {
          event.preventDefault();
          const body = text.value.trim();
          if (!body) return;
          send.disabled = true;
          const answer = await this.hub.api("POST", `/api/v1/bookings/${review.booking_id}/review/reply`, { text: body });
          send.disabled = false;
          if (!answer.ok) return showError(answer.error);
          toast(t("reviews.sent"));
          this.reviews.set(review.booking_id, { ...review, ...answer.data, booking_id: review.booking_id });
          this.render();
        },
      },
      text,
      send,
    );
  }
}

addStrings({
  en: {
    "reviews.title": "My reviews",
    "reviews.none": "No review yet.",
    "reviews.quality": "Quality",
    "reviews.attitude": "Attitude",
    "reviews.skill": "Skill",
    "reviews.reply": "Reply",
    "reviews.reply_placeholder": "Thank the customer, or explain (once)",
    "reviews.replied": "You replied: {text}",
    "reviews.sent": "Reply sent.",
  },
  zh: {
    "reviews.title": "我的评价",
    "reviews.none": "暂无评价。",
    "reviews.quality": "质量",
    "reviews.attitude": "态度",
    "reviews.skill": "技能",
    "reviews.reply": "回复",
    "reviews.reply_placeholder": "感谢客户或作出说明（仅可回复一次）",
    "reviews.replied": "您的回复：{text}",
    "reviews.sent": "回复已发送。",
  },
});
