// What the customer and worker apps do first: log in, draw the page (top bar, views, bottom tabs),
// connect to their namespace, and set up the inbox and the chat every phone app has.
import { ChatPanel } from "./chat.js";
import { Hub } from "./hub.js";
import { applyI18n, onLangChange, t } from "./i18n.js";
import { Inbox } from "./inbox.js";
import { renew, signIn, signOut } from "./login.js";
import { $, badge, fill, h, showState, tabs, toast, topbar } from "./ui.js";

/**
 * @param {object} app
 * @param {"customer"|"worker"} app.role also the namespace (`/customer`, `/worker`)
 * @param {string} app.title the top bar's string key
 * @param {(session) => HTMLElement[]} app.views the `<section id="view-…">` of each tab, in order
 * @param {(name: string) => void} [app.onTab] told each time a tab is shown (the chat's is handled)
 * @param {() => void} [app.onLang] draws again what is not `data-i18n` text
 * @param {HTMLElement[]} [app.extra] more of the page after the tabs (say, a full-screen card)
 * @param {(unread: number, item?: object) => void} [app.onInbox] told the inbox's unread count
 * @param {(id: string) => string} app.chatTitle a conversation's title
 * @param {() => void} app.onChats the chat's unread counts changed
 * @param {() => Promise<void>} app.refresh reads again what the streams do not replay
 * @param {object} app.hooks `window.__demo`: given `hub` and `dropConnection()`
 * @param {object} state the app's state: given `session`, `me`, `hub`, `chat` and `showTab(name)`
 */
export async function boot(app, state) {
  const session = await signIn(app.role, $("#login-mount"));
  const me = { id: session.sub, role: app.role };
  let chat = null;
  const showTab = shell(app, session, (name) => {
    if (name === "chat") chat?.shown();
    app.onTab?.(name);
  });
  const hub = new Hub({
    namespace: `/${app.role}`,
    token: session.token,
    onState: showState,
    renewToken: () => renew(session),
  });
  app.hooks.hub = hub;
  app.hooks.dropConnection = () => hub.dropConnection();
  new Inbox(hub, $("#view-inbox"), (unread, item) => {
    badge("inbox", unread);
    app.onInbox?.(unread, item);
  });
  chat = new ChatPanel(hub, me, $("#chat"), {
    onUnread: (counts) => {
      badge("chat", [...counts.values()].reduce((a, b) => a + b, 0));
      app.onChats();
    },
    titleOf: app.chatTitle,
  });
  hub.on("connected", app.refresh);
  hub.on("reconnected", app.refresh); // booking changes are not replayed: read them again
  hub.on("refused", (e) => toast(t("login.refused", { message: e.message }), "error"));
  Object.assign(state, { session, me, hub, chat, showTab });
  return hub;
}

function shell(app, session, onTab) {
  const views = app.views(session);
  const names = views.map((view) => view.id.replace(/^view-/, ""));
  views.forEach((view, i) => (view.hidden = i > 0));
  const root = $("#app");
  fill(
    root,
    topbar(app.title, { onLogout: () => signOut(app.role), who: `${session.name} · ${session.sub}` }),
    h("main", {}, views),
    h("nav", { class: "tabs", id: "tabs", role: "tablist" }),
    app.extra || [],
  );
  const showTab = tabs($("#tabs"), names, onTab);
  showTab(names[0]);
  applyI18n(root);
  if (app.onLang) onLangChange(app.onLang);
  return showTab;
}
