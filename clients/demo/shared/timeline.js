// A booking timeline entry's note in the page's language. The hub writes its own notes in English
// (`wave 2`, `not paid in time`…) and keeps what people wrote (a cancellation's reason) as they
// wrote it: the hub's are recognised here, anything else is shown as it is.
import { addStrings, t } from "./i18n.js";

// [pattern, string key, the pattern's groups as the string's variables]
const NOTES = [
  [/^wave (\d+)$/, "note.wave", ["n"]],
  [/^no worker took the booking$/, "note.no_taker", []],
  [/^not paid in time$/, "note.unpaid", []],
  [/^the worker is running late$/, "note.late", []],
  [/^a free redo of an earlier booking$/, "note.redo", []],
  [/^Coupon (\S+)$/, "note.coupon", ["code"]],
  [/^no worker could take it before it began; you are refunded in full$/, "note.untaken", []],
  [/^no worker took it$/, "note.untaken_refund", []],
  [/^customer changed plans$/, "note.changed_plans", []], // what the customer app sends
  [/^arrival reported (\d+) m from the address \(geofence ([\d.]+) m\)$/, "note.arrival_flagged", ["m", "limit"]],
];
// data.reason of an entry, when the hub set it
const REASONS = ["all_waves_unanswered", "no_candidates", "not_departed", "eta_after_start"];

/** The entry's note, translated when the hub wrote it. */
export function noteText(entry) {
  const note = entry.note || "";
  for (const [pattern, key, names] of NOTES) {
    const found = pattern.exec(note);
    if (found) return t(key, Object.fromEntries(names.map((name, i) => [name, found[i + 1]])));
  }
  return note;
}

/** Why, for the entries that say (`data.reason`): translated, or null. */
export function reasonText(entry) {
  const reason = entry.data?.reason;
  return REASONS.includes(reason) ? t(`reason.${reason}`) : null;
}

addStrings({
  en: {
    "note.wave": "Wave {n}",
    "note.no_taker": "No worker took the booking",
    "note.unpaid": "Not paid in time",
    "note.late": "The worker is running late",
    "note.redo": "A free redo of an earlier booking",
    "note.coupon": "Coupon {code}",
    "note.untaken": "No worker could take it before it began; you are refunded in full",
    "note.untaken_refund": "No worker took it",
    "note.changed_plans": "The customer changed plans",
    "note.arrival_flagged": "Arrival reported {m} m from the address (allowed: {limit} m)",
    "reason.all_waves_unanswered": "Nobody answered the offers",
    "reason.no_candidates": "No worker can take it",
    "reason.not_departed": "Not on the way yet",
    "reason.eta_after_start": "Expected after the start",
  },
  zh: {
    "note.wave": "第 {n} 轮派单",
    "note.no_taker": "无人接单",
    "note.unpaid": "未按时支付",
    "note.late": "服务人员可能迟到",
    "note.redo": "免费返工",
    "note.coupon": "优惠券 {code}",
    "note.untaken": "开始前无人接单，已全额退款",
    "note.untaken_refund": "无人接单",
    "note.changed_plans": "客户行程有变",
    "note.arrival_flagged": "到达时距地址 {m} 米（允许 {limit} 米）",
    "reason.all_waves_unanswered": "派单无人响应",
    "reason.no_candidates": "没有可接单的服务人员",
    "reason.not_departed": "尚未出发",
    "reason.eta_after_start": "预计晚于开始时间到达",
  },
});
