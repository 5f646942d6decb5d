// Chinese and English strings, with the choice remembered in localStorage. Each page adds its own
// table with addStrings(); elements carry data-i18n (text), data-i18n-placeholder or
// data-i18n-title, and applyI18n() fills them in the current language.
const STORAGE_KEY = "demo.lang";
export const LANGS = ["zh", "en"];
// The demo city's zone: slots, service hours and timelines read in local time (HUB_BOOKING_TIMEZONE).
export const TIME_ZONE = "Asia/Shanghai";

const strings = { zh: {}, en: {} };
const listeners = new Set();
let current = initial();

function initial() {
  const kept = safeStorage()?.getItem(STORAGE_KEY);
  if (LANGS.includes(kept)) return kept;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

function safeStorage() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage refused (private mode, file://): the choice lasts the page
  }
}

export function addStrings(table) {
  for (const [lang, entries] of Object.entries(table)) Object.assign((strings[lang] ??= {}), entries);
}

/** The text of `key` in the current language, `{name}` replaced from `vars`. */
export function t(key, vars = {}) {
  const text = strings[current][key] ?? strings.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? "").toString());
}

export function lang() {
  return current;
}

export function setLang(next) {
  if (!LANGS.includes(next) || next === current) return;
  current = next;
  safeStorage()?.setItem(STORAGE_KEY, next);
  applyI18n(document);
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function applyI18n(root = document) {
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

/** A button that switches between Chinese and English (`#lang-switch`). */
export function langSwitch(button) {
  const label = () => (button.textContent = current === "zh" ? "EN" : "中文");
  button.addEventListener("click", () => setLang(current === "zh" ? "en" : "zh"));
  onLangChange(label);
  label();
}

/** The field of `record` in the current language: `name` reads `name_zh` or `name_en`. */
export function pick(record, field) {
  if (!record) return "";
  return record[`${field}_${current}`] ?? record[`${field}_en`] ?? record[field] ?? "";
}

export function locale() {
  return current === "zh" ? "zh-CN" : "en-GB";
}

/** Integer cents (fen) as yuan: 4500 → "¥45.00". */
export function money(cents) {
  if (cents === null || cents === undefined) return "";
  const sign = cents < 0 ? "−" : "";
  return `${sign}¥${(Math.abs(cents) / 100).toFixed(2)}`;
}

/** A timestamp in the demo city's time: date and time, or what `options` asks. */
export function when(iso, options = { dateStyle: "medium", timeStyle: "short" }) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), { timeZone: TIME_ZONE, ...options }).format(new Date(iso));
}

export function timeOf(iso) {
  return when(iso, { hour: "2-digit", minute: "2-digit", hour12: false });
}

addStrings({
  en: {
    "state.connecting": "Connecting…",
    "state.online": "Online",
    "state.offline": "Offline",
    "state.reconnecting": "Reconnecting…",
    "common.logout": "Log out",
    "common.loading": "Loading…",
    "common.send": "Send",
    "common.cancel": "Cancel",
    "common.close": "Close",
    "common.save": "Save",
    "common.back": "Back",
    "common.empty": "Nothing here yet.",
    "common.error": "Something went wrong: {message}",
    "common.attach": "Attach",
    "common.typing": "typing…",
    "common.read": "Read",
    "common.delivered": "Delivered",
    "common.sent": "Sent",
    "login.title": "Demo login",
    "login.intro": "Pick a person from the demo data.",
    "login.person": "Person",
    "login.submit": "Log in",
    "login.off": "The hub is not in demo mode, so it does not hand out tokens. Start it with `make demo`, or paste a token from `python -m hub token --role {role} --sub …`.",
    "login.token": "Token",
    "login.use_token": "Use this token",
    "login.refused": "Refused: {message}",
    "status.pending_payment": "Awaiting payment",
    "status.dispatching": "Finding a worker",
    "status.accepted": "Worker assigned",
    "status.on_the_way": "On the way",
    "status.arrived": "Arrived",
    "status.in_service": "In service",
    "status.completed": "Completed",
    "status.cancelled": "Cancelled",
    "status.expired": "Expired",
  },
  zh: {
    "state.connecting": "连接中…",
    "state.online": "在线",
    "state.offline": "离线",
    "state.reconnecting": "重新连接中…",
    "common.logout": "退出",
    "common.loading": "加载中…",
    "common.send": "发送",
    "common.cancel": "取消",
    "common.close": "关闭",
    "common.save": "保存",
    "common.back": "返回",
    "common.empty": "暂无内容。",
    "common.error": "出错了：{message}",
    "common.attach": "附件",
    "common.typing": "正在输入…",
    "common.read": "已读",
    "common.delivered": "已送达",
    "common.sent": "已发送",
    "login.title": "演示登录",
    "login.intro": "从演示数据中选择一个身份。",
    "login.person": "身份",
    "login.submit": "登录",
    "login.off": "服务未以演示模式运行，不发放令牌。请用 `make demo` 启动，或粘贴 `python -m hub token --role {role} --sub …` 生成的令牌。",
    "login.token": "令牌",
    "login.use_token": "使用此令牌",
    "login.refused": "被拒绝：{message}",
    "status.pending_payment": "待支付",
    "status.dispatching": "正在派单",
    "status.accepted": "已接单",
    "status.on_the_way": "在路上",
    "status.arrived": "已到达",
    "status.in_service": "服务中",
    "status.completed": "已完成",
    "status.cancelled": "已取消",
    "status.expired": "已过期",
  },
});
