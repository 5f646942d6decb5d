// Small DOM helpers the pages share. Text from the hub is always set as text, never as HTML
// (docs/protocol.md: clients must escape what people write).
import { applyI18n, langSwitch, t } from "./i18n.js";

/**
 * h("button", {id: "x", class: "primary", onclick: fn, dataset: {id: 1}}, "text", child…)
 * Attributes starting with "on" are listeners; strings among the children become text nodes.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "text") el.textContent = value;
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An element whose text is the string `key` in the current language, kept when it changes. */
export function txt(tag, key, attrs = {}) {
  return h(tag, { ...attrs, "data-i18n": key }, t(key));
}

/** Replace the element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** The page's connection state in `#connection-state` (`data-state`, and its text). */
export function showState(state, detail = {}) {
  const el = document.getElementById("connection-state");
  if (!el) return;
  el.dataset.state = state;
  el.dataset.code = detail.code || "";
  el.dataset.i18n = `state.${state}`; // kept in the chosen language when it changes
  el.textContent = t(`state.${state}`);
  el.title = detail.code || detail.reason || "";
}

let toastTimer = null;
/** A short message at the bottom of the screen (`#toast`). */
export function toast(message, kind = "info") {
  let el = document.getElementById("toast");
  if (!el) {
    el = h("div", { id: "toast", role: "status", "aria-live": "polite" });
    document.body.append(el);
  }
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 4_000);
}

/** Tell the person about a refused call or request (an envelope's `error`). */
export function showError(error) {
  toast(t("common.error", { message: error?.message || error?.code || String(error) }), "error");
}

/** The header every page shares: title, connection state, language switch, log out. */
export function topbar(titleKey, { onLogout, who } = {}) {
  const bar = h(
    "header",
    { class: "topbar" },
    h("h1", { "data-i18n": titleKey }, t(titleKey)),
    h("span", { id: "who", class: "who" }, who || ""),
    h("span", { id: "connection-state", class: "state", "data-state": "connecting" }, t("state.connecting")),
    h("button", { id: "lang-switch", class: "ghost", type: "button" }),
    onLogout
      ? h("button", { id: "logout", class: "ghost", type: "button", onclick: onLogout, "data-i18n": "common.logout" }, t("common.logout"))
      : null,
  );
  langSwitch(bar.querySelector("#lang-switch"));
  return bar;
}

/**
 * Bottom tabs (`#tab-<name>` buttons, `#view-<name>` sections): show one view at a time.
 * Returns `show(name)`; `onShow(name)` is told each time.
 */
export function tabs(nav, names, onShow = () => {}) {
  const show = (name) => {
    for (const other of names) {
      document.getElementById(`view-${other}`).hidden = other !== name;
      const button = document.getElementById(`tab-${other}`);
      button.classList.toggle("active", other === name);
      button.setAttribute("aria-selected", String(other === name));
    }
    onShow(name);
  };
  for (const name of names) {
    nav.append(
      h(
        "button",
        { id: `tab-${name}`, type: "button", role: "tab", onclick: () => show(name) },
        h("span", { "data-i18n": `tab.${name}` }, t(`tab.${name}`)),
        h("span", { class: "badge", id: `badge-${name}`, hidden: true }),
      ),
    );
  }
  return show;
}

/** A number on a tab (`#badge-<name>`), hidden at 0. */
export function badge(name, count) {
  const el = document.getElementById(`badge-${name}`);
  if (!el) return;
  el.textContent = count > 99 ? "99+" : String(count);
  el.hidden = !count;
}

export function refreshTexts() {
  applyI18n(document);
}

/** The browser's position, or null when it cannot or will not say within `timeoutMs`. */
export function currentPosition(timeoutMs = 5_000) {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lng: p.coords.longitude }),
      () => resolve(null),
      { enableHighAccuracy: true, timeout: timeoutMs, maximumAge: 10_000 },
    );
  });
}
