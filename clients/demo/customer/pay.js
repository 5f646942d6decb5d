// Paying a booking or a package order: choose a method, prepare the payment with the hub, then
// pay on the provider's page or, in one click, through the sandbox the hub serves in demo mode.
// The sandbox plays the payer and the provider: it sends the hub the provider's signed notify,
// and the hub moves the order on as it would for a real payment.
import { addStrings, money, t, timeOf } from "../shared/i18n.js";
import { fill, h, showError, toast, txt } from "../shared/ui.js";

const METHODS = ["card", "wechat", "alipay"];

/** Alipay's page for a computer, its mobile page on a phone. */
function channel(method) {
  if (method === "card") return "hosted";
  if (method === "wechat") return "app";
  return matchMedia("(pointer: coarse)").matches ? "wap" : "page";
}

/**
 * The payment form (`#<prefix>pay`…): ids carry `prefix` so that two can be on the page at once.
 * @param {import("../shared/hub.js").Hub} hub
 * @param {object} what
 * @param {string} what.path where payments are made: `/api/v1/bookings/{id}/payments`…
 * @param {number} what.totalCents
 * @param {string} what.dueAt
 * @param {string} what.returnUrl where the provider's page sends the payer back
 * @param {object|null} what.payment the payment already prepared, drawn again
 * @param {(payment) => void} what.onPayment told the payment prepared (to keep it)
 * @param {() => void} [what.onPaid] the sandbox took the payment (the notify is on its way)
 */
export function payPanel(hub, what, prefix = "") {
  const id = (name) => `${prefix}${name}`;
  const method = h("select", { id: id("pay-method") }, METHODS.map((m) => h("option", { value: m }, t(`pay.${m}`))));
  const next = h("div", { id: id("pay-next") });
  const pay = async () => {
    const body = { method: method.value, channel: channel(method.value) };
    if (method.value !== "wechat") body.return_url = what.returnUrl;
    const answer = await hub.api("POST", what.path, body, { idempotencyKey: crypto.randomUUID() });
    if (!answer.ok) return showError(answer.error);
    what.onPayment(answer.data);
    showPayment(next, answer.data, what, id);
  };
  const panel = h(
    "div",
    { id: id("pay"), class: "notice" },
    h("p", {}, t("pay.due", { total: money(what.totalCents), time: timeOf(what.dueAt) })),
    h("div", { class: "row" }, h("label", { class: "grow" }, txt("span", "pay.method"), method), txt("button", "pay.submit", { id: id("pay-submit"), type: "button", class: "primary", onclick: pay })),
    next,
  );
  if (what.payment) {
    method.value = what.payment.method;
    showPayment(next, what.payment, what, id);
  }
  return panel;
}

function showPayment(next, payment, what, id) {
  const url = payment.client?.url || payment.client?.h5_url;
  const sandbox = txt("button", "pay.sandbox", { id: id("pay-sandbox"), type: "button", class: "primary" });
  sandbox.onclick = async () => {
    sandbox.disabled = true;
    if (await sandboxPay(payment)) {
      toast(t("pay.paid_wait"));
      what.onPaid?.();
    } else sandbox.disabled = false;
  };
  fill(
    next,
    h("p", { id: id("pay-status"), dataset: { status: payment.status, outTradeNo: payment.out_trade_no } }, t("pay.created", { method: t(`pay.${payment.method}`) })),
    url ? h("a", { id: id("pay-hosted-link"), class: "button", href: url, target: "_blank", rel: "noopener" }, t("pay.open_page")) : null,
    sandbox,
    h("p", { class: "muted" }, t("pay.sandbox_note")),
  );
}

/**
 * Play the payer at the sandbox: it pays and sends the hub its signed notify. An Alipay page or
 * wap trade exists only once the payer's browser has opened Alipay's page (as at Alipay), so the
 * page is opened first, as the link would, then paid. True when the sandbox took the payment.
 */
async function sandboxPay(payment) {
  try {
    if (payment.method === "alipay" && payment.client?.url) {
      // Only the request matters (the sandbox opens the trade); the cashier page is not read.
      await fetch(payment.client.url, { mode: "no-cors", credentials: "omit" });
    }
    const response = await fetch(`/sandbox/${payment.method}/sandbox/pay/${encodeURIComponent(payment.out_trade_no)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ outcome: "success" }),
    });
    if (response.ok) return true;
    const answer = await response.json().catch(() => ({}));
    showError({ code: answer.error, message: t("pay.sandbox_refused", { why: answer.error || response.status }) });
  } catch (err) {
    showError({ code: "network_error", message: String(err) });
  }
  return false;
}

addStrings({
  en: {
    "pay.method": "Pay with",
    "pay.card": "Bank card",
    "pay.wechat": "WeChat Pay",
    "pay.alipay": "Alipay",
    "pay.submit": "Pay",
    "pay.due": "{total} to pay by {time}.",
    "pay.created": "{method}: payment prepared.",
    "pay.open_page": "Open the payment page",
    "pay.sandbox": "Pay now (sandbox)",
    "pay.sandbox_note": "A sandbox plays the provider: no real money moves.",
    "pay.sandbox_refused": "the sandbox did not take the payment ({why})",
    "pay.paid_wait": "Paid: the provider tells the hub, and the order moves on.",
  },
  zh: {
    "pay.method": "支付方式",
    "pay.card": "银行卡",
    "pay.wechat": "微信支付",
    "pay.alipay": "支付宝",
    "pay.submit": "支付",
    "pay.due": "请在 {time} 前支付 {total}。",
    "pay.created": "{method}：已创建支付。",
    "pay.open_page": "打开支付页面",
    "pay.sandbox": "立即支付（沙箱）",
    "pay.sandbox_note": "沙箱模拟支付机构，不会产生真实扣款。",
    "pay.sandbox_refused": "沙箱未完成支付（{why}）",
    "pay.paid_wait": "支付成功，支付机构通知平台后订单将继续处理。",
  },
});
