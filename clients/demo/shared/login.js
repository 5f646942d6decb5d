// The demo login: pick a person of the demo data and the hub signs a token for them
// (POST /api/v1/demo/login, only while the hub runs with `python -m hub demo`). Without demo mode
// the page takes a token pasted from `python -m hub token`.
//
// A session is kept per tab (sessionStorage) and per role, so two tabs can be two workers.
// `?as=<sub>` in the page's address logs in as that person at once (handy for links and tests).
import { applyI18n, langSwitch, t } from "./i18n.js";
import { fill, h } from "./ui.js";

const KEY = (role) => `demo.session.${role}`;
const EARLY_MS = 60_000; // a token this close to its expiry is renewed before use

export async function signIn(role, mount) {
  const wanted = new URLSearchParams(location.search).get("as");
  const kept = load(role);
  if (kept && (!wanted || wanted === kept.sub) && kept.expires_at * 1000 > Date.now() + EARLY_MS) return kept;
  if (wanted) {
    const answer = await demoLogin(role, wanted);
    if (answer.ok) return keep(answer.data);
  }
  return picker(role, mount);
}

/** A fresh token for the same person (demo mode), or null. */
export async function renew(session) {
  const answer = await demoLogin(session.role, session.sub);
  if (!answer.ok) return null;
  Object.assign(session, keep(answer.data));
  return session.token;
}

export function signOut(role) {
  sessionStorage.removeItem(KEY(role));
  const url = new URL(location.href);
  url.searchParams.delete("as");
  location.replace(url);
}

function load(role) {
  try {
    return JSON.parse(sessionStorage.getItem(KEY(role)) || "null");
  } catch {
    return null;
  }
}

function keep(session) {
  sessionStorage.setItem(KEY(session.role), JSON.stringify(session));
  return session;
}

async function demoLogin(role, sub) {
  return post("/api/v1/demo/login", { role, sub });
}

async function post(path, body) {
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json();
    return response.ok ? { ok: true, data } : { ok: false, status: response.status, error: data.error };
  } catch (err) {
    return { ok: false, status: 0, error: { code: "network_error", message: String(err) } };
  }
}

/** The login screen (`#login`): a picker in demo mode, a token field otherwise. */
function picker(role, mount) {
  return new Promise((resolve) => {
    const done = (session) => {
      mount.replaceChildren();
      resolve(keep(session));
    };
    const error = h("p", { id: "login-error", class: "error", hidden: true });
    const showError = (e) => {
      error.hidden = false;
      error.textContent = t("login.refused", { message: e?.message || e?.code });
    };
    const lang = h("button", { id: "login-lang", type: "button", class: "ghost" });
    langSwitch(lang);
    const form = h("form", { id: "login", class: "card login" }, h("div", { class: "row spread" }, h("h2", { "data-i18n": "login.title" }), lang));
    fill(mount, form);

    fetch("/api/v1/demo/people")
      .then(async (response) => ({ ok: response.ok, body: await response.json() }))
      .catch(() => ({ ok: false, body: {} }))
      .then(({ ok, body }) => {
        if (ok) {
          const people = body.items.filter((p) => p.role === role);
          const select = h(
            "select",
            { id: "login-person", name: "sub", required: true },
            people.map((p) => h("option", { value: p.sub }, `${p.sub} · ${p.name}${p.note ? ` (${p.note})` : ""}`)),
          );
          form.append(
            h("p", { "data-i18n": "login.intro" }),
            h("label", {}, h("span", { "data-i18n": "login.person" }), select),
            h("button", { id: "login-submit", class: "primary", type: "submit", "data-i18n": "login.submit" }),
            error,
          );
          form.addEventListener("submit", async (event) => {
            event.preventDefault();
            const answer = await demoLogin(role, select.value);
            if (answer.ok) done(answer.data);
            else showError(answer.error);
          });
        } else {
          const token = h("textarea", { id: "login-token", rows: 4, required: true });
          form.append(
            h("p", { id: "login-demo-off", class: "notice" }, t("login.off", { role })),
            h("label", {}, h("span", { "data-i18n": "login.token" }), token),
            h("button", { id: "login-submit", class: "primary", type: "submit", "data-i18n": "login.use_token" }),
            error,
          );
          form.addEventListener("submit", async (event) => {
            event.preventDefault();
            const session = await fromToken(token.value.trim());
            if (session.ok && session.data.role === role) done(session.data);
            else showError(session.error || { message: `not a ${role} token` });
          });
        }
        applyI18n(mount);
      });
  });
}

async function fromToken(token) {
  try {
    const response = await fetch("/api/v1/me", { headers: { Authorization: `Bearer ${token}` } });
    const data = await response.json();
    if (!response.ok) return { ok: false, error: data.error };
    return { ok: true, data: { token, role: data.role, sub: data.user_id, name: data.user_id, expires_at: data.expires_at } };
  } catch (err) {
    return { ok: false, error: { code: "network_error", message: String(err) } };
  }
}

