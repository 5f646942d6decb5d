// Drives the demo pages' connection class (clients/demo/shared/hub.js, with the socket.io-client
// build the pages load) against a running hub, as a browser would, and prints what it saw as JSON.
// A customer and a support agent chat; the customer drops off, comes back, sees a live message
// twice, misses one live and gets a later one first, is told to sync; notifications are made by the
// test (it is asked on stdout, "NEED notify <n>", and answers on stdin).
// Usage: HUB_URL=... CUSTOMER_TOKEN=... AGENT_TOKEN=... node --experimental-websocket demo_hub_checks.mjs
import { createInterface } from "node:readline";

// What the browser gives the page and Node does not: a window with online/offline events.
const events = new EventTarget();
globalThis.addEventListener = events.addEventListener.bind(events);
globalThis.removeEventListener = events.removeEventListener.bind(events);
globalThis.dispatchEvent = events.dispatchEvent.bind(events);
globalThis.window = globalThis;

const { Hub } = await import("../../clients/demo/shared/hub.js");
const { HUB_URL, CUSTOMER_TOKEN, AGENT_TOKEN } = process.env;
const WAIT_MS = 10_000;
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function until(predicate, what) {
  return within(
    new Promise((resolve) => {
      const check = () => (predicate() ? resolve() : setTimeout(check, 20));
      check();
    }),
    what,
  );
}

function once(hub, event) {
  return within(new Promise((resolve) => { const off = hub.on(event, (d) => { off(); resolve(d); }); }), event);
}

/** Ask the test to make `n` notifications for the customer; wait until it says they are made. */
async function notifications(n) {
  console.log(`NEED notify ${n}`);
  const line = await within(stdin.next(), "the test's answer");
  if (line.value !== "done") throw new Error(`unexpected answer ${line.value}`);
}

// Each its own connection (socket.io-client would share one between two namespaces of a hub).
const options = { url: HUB_URL, io: { transports: ["websocket"], forceNew: true } };
const result = { customerStates: [], messages: [], notifications: [], syncs: 0 };
const customer = new Hub({ ...options, namespace: "/customer", token: CUSTOMER_TOKEN, onState: (s) => result.customerStates.push(s) });
const agent = new Hub({ ...options, namespace: "/support", token: AGENT_TOKEN, console: true });
customer.on("chat:message", (m) => m.kind !== "system" && result.messages.push({ seq: m.seq, body: m.body }));
customer.on("notification", (n) => result.notifications.push(n.seq));
customer.on("synced", () => (result.syncs += 1));
try {
  await Promise.all([once(customer, "connected"), once(agent, "connected")]);
  const listed = await customer.call("notifications:list", { limit: 50 });
  customer.holdNotifications(Math.max(0, ...listed.data.items.map((i) => i.seq)));
  result.notificationMarkAtStart = customer.notifications.mark;

  const opened = await customer.call("support:open");
  const conversationId = opened.data.conversation.id;
  await until(() => opened.data.conversation.assigned_agent_id || true, "assignment");
  const me = { id: "agent", role: "support" };
  const say = async (body) => (await agent.sendMessage(conversationId, body, { sender: me })).data;

  // Live.
  await say("one");
  await until(() => result.messages.length === 1, "message one");
  await notifications(1);
  await until(() => result.notifications.length === 1, "a live notification");

  // Away: the transport drops and does not come back until told to.
  customer.socket.io.reconnection(false);
  customer.dropConnection();
  await until(() => !customer.socket.connected, "the drop");
  await say("two");
  await say("three");
  await notifications(2);
  customer.socket.io.reconnection(true);
  customer.socket.connect();
  await until(() => result.messages.length === 3 && result.notifications.length === 3, "the replay on reconnect");
  result.afterReconnect = { mark: customer.conversations.get(conversationId).mark, notificationMark: customer.notifications.mark };

  // The same message again (a redelivery): dropped.
  const liveHandler = customer.socket.listeners("chat:message")[0];
  const last = { ...result.messages.at(-1) };
  liveHandler({ conversation_id: conversationId, seq: last.seq, body: last.body, sender: me, kind: "text" });

  // Four is lost on the way and five arrives: the gap is seen, five is kept, four is fetched.
  customer.socket.off("chat:message", liveHandler);
  const arrived = [];
  const spy = (event, message) => event === "chat:message" && arrived.push(message.seq);
  customer.socket.onAny(spy);
  const four = await say("four");
  const five = await say("five");
  await until(() => arrived.includes(four.seq) && arrived.includes(five.seq), "both reaching the deaf socket");
  customer.socket.offAny(spy);
  customer.socket.on("chat:message", liveHandler);
  liveHandler({ conversation_id: conversationId, seq: five.seq, body: "five", sender: me, kind: "text", created_at: five.created_at });
  await until(() => result.messages.length === 5, "the missing message");
  await until(() => !customer.conversations.get(conversationId).hasGap, "the gap closed");
  result.afterGap = { mark: customer.conversations.get(conversationId).mark };

  // The hub says live delivery was interrupted: the page syncs from its marks.
  const syncsBefore = result.syncs;
  customer.socket.listeners("sync:required")[0]({ reason: "fanout_interrupted", message: "" });
  await until(() => result.syncs > syncsBefore, "the sync after sync:required");
  await new Promise((resolve) => setTimeout(resolve, 300));
  result.finalMessages = result.messages.length;
  result.agentConsoleMark = agent.console.mark;
} catch (err) {
  result.error = String(err.stack || err);
} finally {
  customer.close();
  agent.close();
}
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(0);
