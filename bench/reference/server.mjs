// The reference: the hub's chat work on the official Node.js Socket.IO server, written the way a
// Node.js team would write it, so that bench/compare.py can set the hub beside it. It does what the
// benchmark exercises and nothing more (no rate limits, no outbox, no offline push, no console, no
// recovery); see bench/README.md, "Against the Node.js reference", for what it leaves out.
//
//   REF_DATABASE_URL=postgresql://... REF_JWT_SECRET=... REF_PORT=8100 node server.mjs
//
// Same contract as the hub: JWT in the Socket.IO auth, `support:open` on /customer assigns the
// least-loaded online support agent, `chat:send` is stored by one INSERT ... RETURNING (per
// conversation seq, idempotent by client_id) before its ack, `chat:message` goes to the other
// member, and a worker's `presence:set` reaches every /support socket as `presence:changed`.

import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import jwt from "jsonwebtoken";
import pg from "pg";
import { Server } from "socket.io";

const PORT = Number(process.env.REF_PORT ?? 8100);
const SECRET = process.env.REF_JWT_SECRET;
const CAPACITY = Number(process.env.REF_AGENT_CAPACITY ?? 5); // the hub's HUB_CHAT_AGENT_CAPACITY default
const MAX_BODY = 4000;
const AGENTS_ROOM = "agents";
if (!SECRET || !process.env.REF_DATABASE_URL) {
  console.error("REF_DATABASE_URL and REF_JWT_SECRET are required");
  process.exit(2);
}

// Ten connections, as the hub's pool (HUB_DB_POOL_MAX).
const pool = new pg.Pool({ connectionString: process.env.REF_DATABASE_URL, max: 10 });
pool.on("error", (err) => console.error("idle database connection failed:", err.message)); // pg would exit

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ref_conversations (
  id uuid PRIMARY KEY,
  customer_id text NOT NULL,
  agent_id text,
  status text NOT NULL,
  last_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS ref_conversations_one_open
  ON ref_conversations (customer_id) WHERE status <> 'resolved';
CREATE TABLE IF NOT EXISTS ref_messages (
  id uuid PRIMARY KEY,
  conversation_id uuid NOT NULL REFERENCES ref_conversations (id),
  seq bigint NOT NULL,
  sender_id text NOT NULL,
  sender_role text NOT NULL,
  client_id text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (conversation_id, seq),
  CONSTRAINT ref_messages_client_id UNIQUE (conversation_id, sender_id, sender_role, client_id)
);
CREATE TABLE IF NOT EXISTS ref_presence_choices (
  user_id text NOT NULL,
  role text NOT NULL,
  status text NOT NULL,
  chosen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, role)
);`;

// The seq is taken and the message stored in one statement: the UPDATE locks the conversation's
// row until the statement commits, so seqs never repeat, and a reused client_id fails the unique
// constraint, which rolls the whole statement (the seq included) back.
const INSERT_MESSAGE = `
WITH conv AS (
  UPDATE ref_conversations SET last_seq = last_seq + 1
   WHERE id = $1 AND status = 'assigned'
     AND (($3 = 'customer' AND customer_id = $2) OR ($3 = 'support' AND agent_id = $2))
  RETURNING id, last_seq, customer_id, agent_id
), msg AS (
  INSERT INTO ref_messages (id, conversation_id, seq, sender_id, sender_role, client_id, body)
  SELECT $4, id, last_seq, $2, $3, $5, $6 FROM conv
  RETURNING id, conversation_id, seq, created_at
)
SELECT msg.*, conv.customer_id, conv.agent_id FROM msg, conv`;

class ClientError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// Presence of workers and agents in this process: a person is online while a socket is connected.
const people = new Map(); // "role:id" -> {user_id, role, status, since, sockets}
// Support agents' load, for least-loaded assignment; the ties go to whoever was assigned longest ago.
const agentLoad = new Map(); // agent id -> {load, assignedAt}
let assignments = 0;

const userRoom = (role, id) => `user:${role}:${id}`;
const now = () => new Date().toISOString();

function presenceState(person) {
  const { user_id, role, status, since } = person;
  return { user_id, role, status, since, last_seen: now(), booking_id: null };
}

function setPresence(role, id, status) {
  const key = `${role}:${id}`;
  const person = people.get(key) ?? { user_id: id, role, status: "offline", since: now(), sockets: 0 };
  people.set(key, person);
  if (person.status !== status) {
    Object.assign(person, { status, since: now() });
    io.of("/support").to(AGENTS_ROOM).emit("presence:changed", presenceState(person));
  }
  return person;
}

function leastLoadedAgent() {
  let best = null;
  for (const person of people.values()) {
    if (person.role !== "support" || person.status !== "online") continue;
    const load = agentLoad.get(person.user_id) ?? { load: 0, assignedAt: 0 };
    if (load.load >= CAPACITY) continue;
    if (best === null || load.load < best.load.load || (load.load === best.load.load && load.assignedAt < best.load.assignedAt)) {
      best = { id: person.user_id, load };
    }
  }
  return best;
}

function conversationView(row) {
  return {
    id: row.id,
    kind: "support",
    customer_id: row.customer_id,
    booking_id: null,
    worker_id: null,
    status: row.status,
    assigned_agent_id: row.agent_id,
    assigned_agent_role: row.agent_id === null ? null : "support",
    last_seq: Number(row.last_seq),
    created_at: row.created_at.toISOString(),
  };
}

// Handlers -----------------------------------------------------------------------------------

async function supportOpen(user) {
  const agent = leastLoadedAgent();
  if (agent === null) throw new ClientError("no_agent_available", "no support agent has room");
  // Counted before the INSERT: another support:open running meanwhile must see this agent's load.
  agent.load.load += 1;
  agent.load.assignedAt = ++assignments;
  agentLoad.set(agent.id, agent.load);
  let inserted;
  try {
    inserted = await pool.query(
      `INSERT INTO ref_conversations (id, customer_id, agent_id, status) VALUES ($1, $2, $3, 'assigned')
       ON CONFLICT (customer_id) WHERE status <> 'resolved' DO NOTHING RETURNING *`,
      [randomUUID(), user.id, agent.id],
    );
  } finally {
    if (!inserted?.rows.length) agent.load.load -= 1;
  }
  if (!inserted.rows.length) {
    // The customer already has an open conversation: that one, as the hub answers.
    const { rows } = await pool.query(
      "SELECT * FROM ref_conversations WHERE customer_id = $1 AND status <> 'resolved'",
      [user.id],
    );
    return { conversation: conversationView(rows[0]), created: false, position: null };
  }
  const conversation = conversationView(inserted.rows[0]);
  io.of("/customer").to(userRoom("customer", user.id)).emit("conversation:assigned", conversation);
  io.of("/support").to(userRoom("support", agent.id)).emit("conversation:assigned", conversation);
  return { conversation, created: true, position: null };
}

function checkSend(payload) {
  const { conversation_id: id, client_id: clientId, body } = payload ?? {};
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  if (typeof id !== "string" || !uuid.test(id)) throw new ClientError("invalid_payload", "conversation_id must be a UUID");
  if (typeof clientId !== "string" || clientId.length < 1 || clientId.length > 64) {
    throw new ClientError("invalid_payload", "client_id must be 1 to 64 characters");
  }
  if (typeof body !== "string" || !body.trim()) throw new ClientError("empty_message", "a message needs a body");
  if (body.length > MAX_BODY) throw new ClientError("body_too_long", `the body is longer than ${MAX_BODY} characters`);
  return { id, clientId, body };
}

async function chatSend(socket, user, payload) {
  const { id, clientId, body } = checkSend(payload);
  let rows;
  try {
    ({ rows } = await pool.query(INSERT_MESSAGE, [id, user.id, user.role, randomUUID(), clientId, body]));
  } catch (err) {
    if (err.code !== "23505" || err.constraint !== "ref_messages_client_id") throw err;
    // A retry of a stored message: its original, sent to nobody again.
    const found = await pool.query(
      `SELECT id, conversation_id, seq, created_at FROM ref_messages
        WHERE conversation_id = $1 AND sender_id = $2 AND sender_role = $3 AND client_id = $4`,
      [id, user.id, user.role, clientId],
    );
    return sentView(found.rows[0], clientId, true);
  }
  if (!rows.length) throw new ClientError("conversation_not_found", "no such conversation");
  const row = rows[0];
  const message = {
    id: row.id,
    conversation_id: row.conversation_id,
    seq: Number(row.seq),
    sender: { id: user.id, role: user.role },
    client_id: clientId,
    kind: "text",
    body,
    attachments: [],
    private: false,
    created_at: row.created_at.toISOString(),
  };
  // Every device of both members but the sending socket, which has the ack.
  io.of("/customer").to(userRoom("customer", row.customer_id)).except(socket.id).emit("chat:message", message);
  io.of("/support").to(userRoom("support", row.agent_id)).except(socket.id).emit("chat:message", message);
  return sentView(row, clientId, false);
}

function sentView(row, clientId, duplicate) {
  return {
    id: row.id,
    seq: Number(row.seq),
    created_at: row.created_at.toISOString(),
    conversation_id: row.conversation_id,
    client_id: clientId,
    duplicate,
  };
}

async function presenceSet(user, payload) {
  const allowed = ["online", "on_leave"];
  const status = payload?.status;
  if (!allowed.includes(status)) throw new ClientError("invalid_status", `status must be one of ${allowed.join(", ")}`);
  // Kept, as the hub keeps a chosen status, so that it outlives the process.
  await pool.query(
    `INSERT INTO ref_presence_choices (user_id, role, status) VALUES ($1, $2, $3)
     ON CONFLICT (user_id, role) DO UPDATE SET status = excluded.status, chosen_at = now()`,
    [user.id, user.role, status],
  );
  return presenceState(setPresence(user.role, user.id, status));
}

// Sockets ------------------------------------------------------------------------------------

function refusal(code, message) {
  const err = new Error(message);
  err.data = { code, message };
  return err;
}

function authenticate(roles) {
  return (socket, next) => {
    const token = socket.handshake.auth?.token;
    if (typeof token !== "string" || !token) return next(refusal("token_missing", "no token"));
    let claims;
    try {
      claims = jwt.verify(token, SECRET, { algorithms: ["HS256"] });
    } catch (err) {
      const code = err.name === "TokenExpiredError" ? "token_expired" : "token_invalid";
      return next(refusal(code, err.message));
    }
    if (typeof claims.sub !== "string" || !claims.sub) return next(refusal("token_invalid", "bad sub"));
    if (!roles.includes(claims.role)) return next(refusal("role_forbidden", "role not admitted here"));
    socket.data.user = { id: claims.sub, role: claims.role };
    next();
  };
}

// Every event answers the hub's envelope: {ok, data} or {ok: false, error: {code, message}}.
function handle(socket, event, handler) {
  socket.on(event, async (...args) => {
    const ack = typeof args.at(-1) === "function" ? args.pop() : () => {};
    try {
      ack({ ok: true, data: (await handler(args[0])) ?? null });
    } catch (err) {
      if (err instanceof ClientError) return ack({ ok: false, error: { code: err.code, message: err.message } });
      console.error(`${event} failed:`, err);
      ack({ ok: false, error: { code: "internal_error", message: "the handler failed" } });
    }
  });
}

// Workers and agents have presence (customers' is nobody's business, as in the hub): online while
// a socket is connected, announced to every /support socket.
function tracked(socket, user) {
  const person = setPresence(user.role, user.id, "online");
  person.sockets += 1;
  socket.on("disconnect", () => {
    if (--person.sockets > 0) return;
    setPresence(user.role, user.id, "offline");
    people.delete(`${user.role}:${user.id}`);
  });
}

const httpServer = createServer((req, res) => {
  res.writeHead(req.url === "/readyz" ? 200 : 404).end();
});
const io = new Server(httpServer, { transports: ["websocket"], perMessageDeflate: false, serveClient: false });

io.of("/customer").use(authenticate(["customer"])).on("connection", (socket) => {
  const user = socket.data.user;
  socket.join(userRoom(user.role, user.id));
  handle(socket, "support:open", () => supportOpen(user));
  handle(socket, "chat:send", (payload) => chatSend(socket, user, payload));
});

io.of("/support").use(authenticate(["support", "admin"])).on("connection", (socket) => {
  const user = socket.data.user;
  socket.join([userRoom(user.role, user.id), AGENTS_ROOM]);
  tracked(socket, user);
  handle(socket, "chat:send", (payload) => chatSend(socket, user, payload));
});

io.of("/worker").use(authenticate(["worker"])).on("connection", (socket) => {
  const user = socket.data.user;
  socket.join(userRoom(user.role, user.id));
  tracked(socket, user);
  handle(socket, "presence:set", (payload) => presenceSet(user, payload));
});

async function main() {
  await pool.query(SCHEMA);
  const { rows } = await pool.query(
    "SELECT agent_id, count(*)::int AS load FROM ref_conversations WHERE status = 'assigned' GROUP BY agent_id",
  );
  for (const row of rows) agentLoad.set(row.agent_id, { load: row.load, assignedAt: 0 });
  httpServer.listen(PORT, "127.0.0.1");
}

process.on("SIGTERM", () => {
  io.close(() => pool.end().then(() => process.exit(0)));
  setTimeout(() => process.exit(1), 5000).unref();
});

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
