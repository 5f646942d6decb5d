// The load generator of bench/compare.py: one Node.js process on the official socket.io-client
// (websocket transport only) that drives the hub or the reference with the same events, so both
// are measured by the same client code. It speaks JSON lines: a config line, then one command per
// line on stdin, one reply per line on stdout (nothing else goes there; diagnostics go to stderr).
// Every latency is read on this process's performance.now(): the sender's emit and the receiver's
// handler run in the same process.

import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const AGENT_NS = "/support";
const CUSTOMER_NS = "/customer";
const BACKLOG_AFTER_MS = 1000; // still undelivered this long after the measured window: a backlog

let config;
const groups = new Map(); // name -> [Peer]
let state = null; // the running command's bookkeeping (a run or a fan-out), read by the handlers
let counter = 0;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (ms) => Math.round(ms * 1000) / 1000;
// CLOCK_MONOTONIC, the clock of Python's time.monotonic() in the orchestrator.
const monotonic = () => Number(process.hrtime.bigint()) / 1e9;

async function bounded(items, concurrency, fn) {
  const results = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return results;
}

function errorCode(reply) {
  return reply && typeof reply.error === "object" ? String(reply.error.code ?? "unknown") : "malformed_ack";
}

// Set-up -------------------------------------------------------------------------------------

function connectOne(namespace, sub, token) {
  const socket = io(config.url + namespace, {
    transports: ["websocket"],
    auth: { token },
    reconnection: false,
    forceNew: true,
    timeout: config.timeout * 1000,
  });
  const peer = { sub, namespace, socket, disconnects: 0, assigned: new Map(), seen: new Map(), closing: false };
  socket.on("chat:message", (message) => onMessage(peer, message));
  socket.on("conversation:assigned", (conversation) => peer.assigned.set(conversation?.id, conversation));
  socket.on("presence:changed", (change) => onPresence(peer, change));
  socket.on("disconnect", () => {
    if (!peer.closing) peer.disconnects += 1;
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(`timeout`), config.timeout * 1000);
    const done = (error) => {
      clearTimeout(timer);
      if (error) socket.close();
      resolve({ peer, error });
    };
    socket.once("connect", () => done(null));
    socket.once("connect_error", (err) => done(err?.data?.code ?? err?.message ?? "connect_error"));
  });
}

async function connect({ group, namespace, creds }) {
  const started = performance.now();
  const outcomes = await bounded(creds, config.concurrency, ([sub, token]) => connectOne(namespace, sub, token));
  const peers = outcomes.filter((o) => !o.error).map((o) => o.peer);
  groups.set(group, [...(groups.get(group) ?? []), ...peers]);
  const errors = {};
  for (const o of outcomes) if (o.error) errors[o.error] = (errors[o.error] ?? 0) + 1;
  return { connected: peers.length, errors, seconds: (performance.now() - started) / 1000 };
}

async function disconnect({ group }) {
  const peers = groups.get(group) ?? [];
  for (const peer of peers) {
    peer.closing = true;
    peer.socket.close();
  }
  groups.delete(group);
  return { closed: peers.length };
}

// support:open for every customer of a group, `concurrency` in flight; keeps the conversations.
async function open({ customers, agents }) {
  const byAgent = new Map((groups.get(agents) ?? []).map((p) => [p.sub, p]));
  const started = performance.now();
  const outcome = {};
  const conversations = [];
  await bounded(groups.get(customers) ?? [], config.concurrency, async (customer) => {
    let verdict;
    try {
      const reply = await customer.socket.timeout(config.timeout * 1000).emitWithAck("support:open", null);
      verdict = reply?.ok ? await adopt(customer, reply.data.conversation, byAgent, conversations) : `error:${errorCode(reply)}`;
    } catch {
      verdict = "no_ack";
    }
    outcome[verdict] = (outcome[verdict] ?? 0) + 1;
  });
  const seconds = (performance.now() - started) / 1000;
  state = { conversations, nextCustomer: 0, nextAgent: 0, byAgent: groupByAgent(conversations) };
  return { seconds, outcome, conversations: conversations.length };
}

async function adopt(customer, conversation, byAgent, conversations) {
  // An ack may say "queued" while the assignment is on its way: wait for it, as an app would.
  const deadline = performance.now() + config.timeout * 1000;
  while (conversation.status !== "assigned" && !customer.assigned.has(conversation.id) && performance.now() < deadline) {
    await sleep(20);
  }
  const assigned = conversation.status === "assigned" ? conversation : customer.assigned.get(conversation.id);
  if (!assigned) return "queued";
  const agent = byAgent.get(assigned.assigned_agent_id);
  if (!agent) return "unknown_agent";
  conversations.push({ id: assigned.id, customer, agent });
  return "assigned";
}

function groupByAgent(conversations) {
  const mine = new Map();
  for (const c of conversations) mine.set(c.agent.sub, [...(mine.get(c.agent.sub) ?? []), c]);
  return [...mine.values()].map((list) => ({ list, next: 0 }));
}

// Chat at a fixed rate -----------------------------------------------------------------------

// Open loop: sends follow the schedule whatever the acks do; directions alternate, customers take
// turns and so do agents (each through their own conversations), as bench/loadgen.py does.
async function run({ rate, start_at: startAt, warmup, duration, drain }) {
  const chat = state;
  if (!chat?.conversations?.length) throw new Error("no conversations: run open first");
  const run = { sent: new Map(), pending: 0, stray: 0, misrouted: 0, duplicates: 0, settled: null };
  chat.run = run;
  const start = performance.now() + (startAt - monotonic()) * 1000;
  const measureFrom = start + warmup * 1000;
  const measureUntil = measureFrom + duration * 1000;
  const total = Math.round(rate * (warmup + duration));
  const disconnectsBefore = allDisconnects();
  let backlog = null;
  const backlogTimer = setTimeout(() => {
    backlog = [...run.sent.values()].filter((r) => r.measured && !r.error && r.received === undefined).length;
  }, Math.max(0, measureUntil + BACKLOG_AFTER_MS - performance.now()));
  let k = 0;
  while (k < total) {
    const due = start + (k * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    else if (k % 50 === 0) await new Promise(setImmediate); // behind: still read acks and deliveries
    send(chat, run, due, due >= measureFrom && due < measureUntil);
    k += 1;
  }
  const settled = new Promise((resolve) => (run.settled = resolve));
  if (run.pending === 0) run.settled();
  const drained = measureUntil + Math.max(drain * 1000, BACKLOG_AFTER_MS);
  await Promise.race([settled, sleep(Math.max(0, drained - performance.now()))]);
  // Settled before the backlog's instant: nothing was left undelivered, so there is none.
  clearTimeout(backlogTimer);
  if (backlog === null) backlog = 0;
  chat.run = null;
  return report(run, backlog, allDisconnects() - disconnectsBefore);
}

function pick(chat, k) {
  if (k % 2 === 0) {
    const conversation = chat.conversations[chat.nextCustomer++ % chat.conversations.length];
    return [conversation, conversation.customer, conversation.agent];
  }
  const agent = chat.byAgent[chat.nextAgent++ % chat.byAgent.length];
  const conversation = agent.list[agent.next++ % agent.list.length];
  return [conversation, conversation.agent, conversation.customer];
}

function send(chat, run, scheduled, measured) {
  const [conversation, sender, receiver] = pick(chat, counter);
  const clientId = `g-${counter++}`;
  const record = { receiver: receiver.sub, scheduled, measured, emitted: performance.now() };
  run.sent.set(clientId, record);
  run.pending += 2; // its ack and its delivery
  const payload = { conversation_id: conversation.id, client_id: clientId, body: config.body };
  sender.socket.timeout(config.timeout * 1000).emit("chat:send", payload, (err, reply) => {
    record.acked = performance.now();
    if (err) record.error = "no_ack";
    else if (!reply?.ok) record.error = errorCode(reply);
    settle(run, record.error && record.received === undefined ? 2 : 1);
  });
}

function settle(run, count) {
  run.pending -= count;
  if (run.pending <= 0 && run.settled) run.settled();
}

function onMessage(peer, message) {
  const at = performance.now();
  const run = state?.run;
  if (!run || !message?.client_id) return; // a system line, or between runs
  const record = run.sent.get(message.client_id);
  if (!record) run.stray += 1;
  else if (record.receiver !== peer.sub) run.misrouted += 1;
  else if (record.received !== undefined) run.duplicates += 1;
  else {
    record.received = at;
    if (!record.error) settle(run, 1);
  }
}

function report(run, backlog, disconnects) {
  const measured = [...run.sent.values()].filter((r) => r.measured);
  const warmupErrors = {};
  const errors = {};
  for (const r of run.sent.values()) {
    if (r.error) (r.measured ? errors : warmupErrors)[r.error] = ((r.measured ? errors : warmupErrors)[r.error] ?? 0) + 1;
  }
  const delivered = measured.filter((r) => r.received !== undefined);
  return {
    sent: measured.length,
    e2e_ms: delivered.map((r) => round(r.received - r.emitted)),
    ack_ms: measured.filter((r) => r.acked !== undefined && !r.error).map((r) => round(r.acked - r.emitted)),
    lag_ms: measured.map((r) => round(r.emitted - r.scheduled)),
    errors,
    warmup_errors: warmupErrors,
    lost: measured.filter((r) => !r.error && r.received === undefined).length,
    backlog,
    stray: run.stray,
    misrouted: run.misrouted,
    duplicates: run.duplicates,
    disconnects,
  };
}

function allDisconnects() {
  let total = 0;
  for (const peers of groups.values()) for (const p of peers) total += p.disconnects;
  return total;
}

// Fan-out: a worker's presence:set reaches every /support socket as presence:changed ---------------

const statusOf = (index) => (index % 2 === 0 ? "on_leave" : "online");

// Each trigger socket toggles on_leave / online `count / triggers` times, one at a time (the next
// once the previous is acknowledged); every socket of the room should receive each change.
async function fanout({ triggers, room, count, drain }) {
  const senders = groups.get(triggers) ?? [];
  const receivers = groups.get(room) ?? [];
  if (!senders.length || !receivers.length) throw new Error("fanout needs trigger and room sockets");
  const perSender = Math.ceil(count / senders.length);
  const fan = { times: new Map(senders.map((p) => [p.sub, []])), room: new Set(receivers), latencies: [], stray: 0, last: 0 };
  fan.expected = perSender * senders.length * receivers.length;
  state = { ...state, fan };
  for (const peer of receivers) peer.seen = new Map();
  const errors = {};
  const started = performance.now();
  await Promise.all(
    senders.map(async (sender) => {
      for (let i = 0; i < perSender; i++) {
        fan.times.get(sender.sub).push(performance.now());
        try {
          const reply = await sender.socket.timeout(config.timeout * 1000).emitWithAck("presence:set", { status: statusOf(i) });
          if (!reply?.ok) errors[errorCode(reply)] = (errors[errorCode(reply)] ?? 0) + 1;
        } catch {
          errors.no_ack = (errors.no_ack ?? 0) + 1;
        }
      }
    }),
  );
  const finished = new Promise((resolve) => (fan.done = resolve));
  if (fan.latencies.length >= fan.expected) fan.done();
  await Promise.race([finished, sleep(drain * 1000)]);
  state.fan = null;
  const delivered = fan.latencies.length;
  return {
    broadcasts: perSender * senders.length,
    room: receivers.length,
    expected: fan.expected,
    delivered,
    lost: fan.expected - delivered,
    errors,
    stray: fan.stray,
    seconds: delivered ? (fan.last - started) / 1000 : 0,
    latency_ms: fan.latencies,
  };
}

// The k-th change of a trigger that a room socket sees answers that trigger's k-th presence:set.
function onPresence(peer, change) {
  const at = performance.now();
  const fan = state?.fan;
  const sent = fan?.times.get(change?.user_id);
  if (!sent || !fan.room.has(peer)) return; // another person's presence, another socket, or between fan-outs
  const index = peer.seen.get(change.user_id) ?? 0;
  if (index >= sent.length || change.status !== statusOf(index)) {
    fan.stray += 1;
    return;
  }
  peer.seen.set(change.user_id, index + 1);
  fan.latencies.push(round(at - sent[index]));
  fan.last = at;
  if (fan.latencies.length >= fan.expected) fan.done?.();
}

// The JSON-lines loop ----------------------------------------------------------------------------

const handlers = { connect, disconnect, open, run, fanout };

async function serve() {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  const reply = (message) => process.stdout.write(JSON.stringify(message) + "\n");
  for await (const line of lines) {
    const command = JSON.parse(line);
    if (config === undefined) {
      config = command;
      reply({ ok: true, ready: true });
      continue;
    }
    if (command.cmd === "stop") {
      for (const group of [...groups.keys()]) await disconnect({ group });
      reply({ ok: true });
      break;
    }
    try {
      reply({ ok: true, ...(await handlers[command.cmd](command)) });
    } catch (err) {
      reply({ ok: false, error: `${err.name}: ${err.message}` });
    }
  }
  process.exit(0);
}

// Ctrl-C is the orchestrator's to handle: it stops the generator in order.
process.on("SIGINT", () => {});
serve();
