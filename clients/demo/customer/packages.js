// Service packages (套餐): visits of one service bought ahead for one price. Those on sale
// (`/api/v1/packages`), buying one (an unpaid package order, paid like a booking), the customer's
// own with the visits left (`/api/v1/customers/me/packages`), and booking a visit from one.
import { addStrings, money, pick, t, when } from "../shared/i18n.js";
import { fill, h, showError, toast, txt } from "../shared/ui.js";
import { payPanel } from "./pay.js";

// A package order is paid when the provider's notify reaches the hub, a moment after the sandbox
// takes the payment; nothing is pushed to the page for it, so the page looks again, a bounded
// number of times.
const PAID_CHECKS = 30;
const PAID_CHECK_MS = 1_000;

export class Packages {
  /**
   * @param {import("../shared/hub.js").Hub} hub
   * @param {HTMLElement} root where the packages go
   * @param {object} app
   * @param {(serviceId: string) => object|undefined} app.service a service of the catalog, if known
   * @param {(order: object) => void} app.onBook book a visit paid by `order`
   */
  constructor(hub, root, app) {
    this.hub = hub;
    this.app = app;
    this.onSale = [];
    this.orders = [];
    this.payments = new Map(); // package order id -> the payment prepared for it
    this.saleList = h("ul", { id: "packages-on-sale", class: "list" });
    this.mine = h("ul", { id: "my-packages", class: "list" });
    fill(root, txt("h2", "pkg.title"), txt("p", "pkg.intro", { class: "muted" }), this.saleList, txt("h3", "pkg.mine"), this.mine);
  }

  /** Active orders with a visit left for `serviceId`, to pay a booking with. */
  usable(serviceId) {
    return this.orders.filter((o) => o.service_id === serviceId && o.status === "active" && o.visits_left > 0);
  }

  async load() {
    const [sale, mine] = await Promise.all([this.hub.api("GET", "/api/v1/packages"), this.hub.api("GET", "/api/v1/customers/me/packages")]);
    if (sale.ok) this.onSale = sale.data.items;
    if (mine.ok) this.orders = mine.data.items;
    if (!sale.ok || !mine.ok) showError((sale.ok ? mine : sale).error);
    this.render();
  }

  render() {
    fill(this.saleList, this.onSale.length ? this.onSale.map((p) => this.#forSale(p)) : h("li", { class: "muted" }, t("pkg.none_on_sale")));
    fill(this.mine, this.orders.length ? this.orders.map((o) => this.#order(o)) : h("li", { class: "muted" }, t("pkg.none_mine")));
  }

  serviceName(serviceId) {
    const service = this.app.service(serviceId);
    return service ? pick(service, "name") : serviceId;
  }

  #forSale(p) {
    return h(
      "li",
      { class: "package", dataset: { packageId: p.id, serviceId: p.service_id } },
      h("div", { class: "row spread" }, h("strong", {}, p.name), h("strong", {}, money(p.price_cents))),
      h("div", { class: "muted" }, t("pkg.terms", { service: this.serviceName(p.service_id), visits: p.visits, minutes: p.visit_minutes, each: money(Math.round(p.price_cents / p.visits)), days: p.validity_days })),
      txt("button", "pkg.buy", { type: "button", class: "primary buy-package", onclick: (e) => this.#buy(p, e.currentTarget) }),
    );
  }

  #order(o) {
    const payable = o.status === "pending_payment";
    return h(
      "li",
      { class: "package-order", dataset: { packageOrderId: o.id, status: o.status, visitsLeft: o.visits_left } },
      h("div", { class: "row spread" }, h("strong", {}, o.name), h("span", { class: "pill" }, t(`pkg.status.${o.status}`))),
      h("div", { class: "visits-left" }, t("pkg.visits_left", { left: o.visits_left, visits: o.visits, service: this.serviceName(o.service_id) })),
      o.expires_at ? h("small", {}, t("pkg.expires", { day: when(o.expires_at, { dateStyle: "medium" }) })) : null,
      payable
        ? payPanel(
            this.hub,
            {
              path: `/api/v1/package-orders/${o.id}/payments`,
              totalCents: o.price_cents,
              dueAt: o.payment_due_at,
              returnUrl: `${location.origin}${location.pathname}`,
              payment: this.payments.get(o.id) || null,
              onPayment: (payment) => this.payments.set(o.id, payment),
              onPaid: () => this.#untilPaid(o.id),
            },
            `package-${o.id}-`,
          )
        : null,
      o.status === "active" && o.visits_left > 0 ? txt("button", "pkg.book_visit", { type: "button", class: "primary book-visit", onclick: () => this.app.onBook(o) }) : null,
    );
  }

  async #buy(p, button) {
    button.disabled = true;
    const answer = await this.hub.api("POST", `/api/v1/packages/${p.id}/purchase`, {}, { idempotencyKey: crypto.randomUUID() });
    button.disabled = false;
    if (!answer.ok) return showError(answer.error);
    toast(t("pkg.bought"));
    await this.load();
    this.mine.querySelector(`[data-package-order-id="${answer.data.id}"]`)?.scrollIntoView({ block: "nearest" });
  }

  async #untilPaid(orderId) {
    for (let check = 0; check < PAID_CHECKS; check += 1) {
      await new Promise((resolve) => setTimeout(resolve, PAID_CHECK_MS));
      const answer = await this.hub.api("GET", "/api/v1/customers/me/packages");
      if (!answer.ok) continue;
      const order = answer.data.items.find((o) => o.id === orderId);
      if (order && order.status !== "pending_payment") {
        this.orders = answer.data.items;
        this.payments.delete(orderId);
        this.render();
        return toast(t("pkg.paid"));
      }
    }
    toast(t("pkg.not_paid_yet"), "error");
  }
}

addStrings({
  en: {
    "pkg.title": "Service packages",
    "pkg.intro": "Visits of one service bought ahead, for less.",
    "pkg.none_on_sale": "No package on sale right now.",
    "pkg.terms": "{service}: {visits} visits of up to {minutes} min, {each} a visit, valid {days} days after paying",
    "pkg.buy": "Buy",
    "pkg.bought": "Package ordered: pay for it to use its visits.",
    "pkg.mine": "My packages",
    "pkg.none_mine": "You have no package yet.",
    "pkg.visits_left": "{left} of {visits} visits left · {service}",
    "pkg.expires": "Valid until {day}",
    "pkg.book_visit": "Book a visit",
    "pkg.paid": "Package paid: its visits are yours.",
    "pkg.not_paid_yet": "The payment has not reached us yet: look again in a moment.",
    "pkg.status.pending_payment": "To pay",
    "pkg.status.active": "Active",
    "pkg.status.used_up": "Used up",
    "pkg.status.expired": "Expired",
  },
  zh: {
    "pkg.title": "服务套餐",
    "pkg.intro": "提前购买同一服务的多次上门，更优惠。",
    "pkg.none_on_sale": "暂无在售套餐。",
    "pkg.terms": "{service}：{visits} 次，每次最长 {minutes} 分钟，每次 {each}，付款后 {days} 天内有效",
    "pkg.buy": "购买",
    "pkg.bought": "套餐已下单，支付后即可使用。",
    "pkg.mine": "我的套餐",
    "pkg.none_mine": "您还没有套餐。",
    "pkg.visits_left": "剩余 {left}/{visits} 次 · {service}",
    "pkg.expires": "有效期至 {day}",
    "pkg.book_visit": "预约一次上门",
    "pkg.paid": "套餐支付成功，可以预约了。",
    "pkg.not_paid_yet": "暂未收到支付结果，请稍后再看。",
    "pkg.status.pending_payment": "待支付",
    "pkg.status.active": "可使用",
    "pkg.status.used_up": "已用完",
    "pkg.status.expired": "已过期",
  },
});
