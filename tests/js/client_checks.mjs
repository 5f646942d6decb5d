// Drives a running hub with the official socket.io-client and prints what it saw as JSON.
// Usage: HUB_URL=... CUSTOMER_TOKEN=... AGENT_TOKEN=... [PARSER=msgpack] node client_checks.mjs
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";

const { HUB_URL, CUSTOMER_TOKEN, AGENT_TOKEN, PARSER } = process.env;
const WAIT_MS = 10_000;
const options = { transports: ["websocket"], reconnection: false, timeout: WAIT_MS };
if (PARSER === "msgpack") options.parser = msgpackParser;

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function connect(namespace, token) {
  const socket = io(`${HUB_URL}${namespace}`, { ...options, auth: { token } });
  return within(
    new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", reject);
    }),
    `connect to ${namespace}`,
  );
}

function next(socket, event, predicate = () => true) {
  return within(
    new Promise((resolve) => {
      const handler = (data) => {
        if (predicate(data)) {
          socket.off(event, handler);
          resolve(data);
        }
      };
      socket.on(event, handler);
    }),
    event,
  );
}

const result = {};
const sockets = [];
try {
  try {
    sockets.push(await connect("/customer", "not-a-token"));
    result.refusal = null;
  } catch (err) {
    result.refusal = { message: err.message, data: err.data ?? null };
  }

  const agent = await connect("/support", AGENT_TOKEN);
  const customer = await connect("/customer", CUSTOMER_TOKEN);
  sockets.push(agent, customer);
  result.ping = await within(customer.emitWithAck("ping"), "ping ack");

  const opened = await within(customer.emitWithAck("support:open"), "support:open ack");
  const conversationId = opened.data.conversation.id;
  result.opened = opened;

  const incoming = next(agent, "chat:message", (m) => m.kind === "text");
  result.sent = await within(
    customer.emitWithAck("chat:send", { conversation_id: conversationId, client_id: "js-1", body: "你好, window cleaning?" }),
    "chat:send ack",
  );
  result.agent_received = await incoming;

  const reply = next(customer, "chat:message", (m) => m.kind === "text");
  await within(
    agent.emitWithAck("chat:send", { conversation_id: conversationId, client_id: "js-2", body: "Yes, tomorrow 9:00" }),
    "reply ack",
  );
  result.customer_received = await reply;
  result.bad_payload = await within(customer.emitWithAck("chat:send", { conversation_id: 42 }), "bad payload ack");
} catch (err) {
  result.error = String(err && err.stack ? err.stack : err);
} finally {
  for (const socket of sockets) socket.disconnect();
}
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(result.error ? 1 : 0);
