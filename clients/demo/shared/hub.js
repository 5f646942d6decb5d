// The connection every demo page uses: one Socket.IO namespace with a token, its state shown
// through a callback, reconnection by socket.io-client itself, and recovery of what was missed
// (docs/protocol.md "Missed-message recovery", docs/console.md "The console stream").
//
// The hub replays from PostgreSQL: the client keeps, per stream, the highest seq up to which it
// holds everything (its mark) and sends the marks as `auth.sync` on every (re)connect, so the
// `sync` answer brings what happened while it was away. Live events are checked against the
// marks: a seq already held is dropped, a seq past mark + 1 means something did not arrive and
// is answered with a `sync`. Handlers registered with `on()` therefore see each notification,
// message and console entry once, whether it came live or replayed.
import { io } from "../vendor/socket.io.esm.min.js";

const CALL_TIMEOUT_MS = 10_000;
// A refused connection socket.io-client will not retry by itself, but that passes.
const PASSING_REFUSALS = new Set(["connecting_too_often", "too_many_connections", "internal_error"]);
const RETRY_REFUSED_MS = 3_000;
// Events of the console stream (on /support), each with a seq.
const CONSOLE_EVENTS = new Set(["item:updated", "booking:updated", "order:alert", "dispatch:escalated"]);
// A gap still open after a sync answer is asked about again, not at once.
const GAP_RETRY_MS = 1_000;

/** One stream of seqs: the mark, and what arrived above it out of order. */
export class SeqStream {
  constructor(mark = null) {
    this.mark = mark; // highest seq up to which everything is held; null: not known yet
    this.above = new Set();
  }

  /** True when `seq` is new (deliver it), false for a duplicate. */
  take(seq) {
    if (this.mark === null) {
      this.mark = seq; // the first seq seen is where this client starts
      return true;
    }
    if (seq <= this.mark || this.above.has(seq)) return false;
    this.above.add(seq);
    while (this.above.has(this.mark + 1)) {
      this.above.delete(this.mark + 1);
      this.mark += 1;
    }
    return true;
  }

  /** Everything up to `last` is held (a complete sync answer said so). */
  settle(last) {
    if (last === null || last === undefined) return;
    if (this.mark === null || last > this.mark) this.mark = last;
    for (const seq of this.above) if (seq <= this.mark) this.above.delete(seq);
    while (this.above.has(this.mark + 1)) {
      this.above.delete(this.mark + 1);
      this.mark += 1;
    }
  }

  get hasGap() {
    return this.above.size > 0;
  }
}

export class Hub {
  /**
   * @param {object} options
   * @param {string} options.namespace "/customer", "/worker" or "/support"
   * @param {string} options.token the JWT
   * @param {(state: string, detail?: object) => void} [options.onState] connecting, online,
   *   reconnecting or offline (with `detail.code` when the hub refused the connection)
   * @param {() => Promise<string|null>} [options.renewToken] a fresh token when this one expires
   * @param {boolean} [options.console] keep the console stream's mark (support agents)
   * @param {string} [options.url] the hub's origin; the page's own by default
   * @param {object} [options.io] more socket.io-client options (say, `transports`)
   */
  constructor({ namespace, token, onState = () => {}, renewToken = null, console = false, url = "", io: more = {} }) {
    this.namespace = namespace;
    this.token = token;
    this.url = url;
    this.renewToken = renewToken;
    this.state = null; // set to "connecting" below, which onState is told
    this.stateDetail = {};
    this.handlers = new Map();
    this.notifications = new SeqStream();
    this.conversations = new Map(); // conversation id -> SeqStream
    this.console = console ? new SeqStream() : null;
    this.consoleWaiting = []; // console entries that came before the first snapshot
    this.syncing = null;
    this.syncAgain = false;
    this.applying = false;
    this.gapTimer = null;
    this.connectedOnce = false;
    this.closed = false;
    this.onState = onState;

    this.socket = io(`${url}${namespace}`, {
      // A function: socket.io-client calls it on every (re)connect, so the marks sent are current.
      auth: (cb) => cb({ token: this.token, sync: this.marks() }),
      reconnectionDelay: 500,
      reconnectionDelayMax: 5_000,
      timeout: 10_000,
      ...more,
    });
    this.#listen();
    this.#setState("connecting");
    window.addEventListener("offline", () => this.#setState("offline", { code: "browser_offline" }));
    window.addEventListener("online", () => {
      if (this.closed) return;
      if (this.socket.connected) return this.#setState("online");
      this.#setState("reconnecting");
      this.socket.connect(); // at once, unless socket.io-client has an attempt under way
    });
  }

  // Public API ---------------------------------------------------------------------------------

  /** Call `fn(data)` for every `event` (after de-duplication for the streams); returns `off`. */
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
    return () => this.handlers.get(event)?.delete(fn);
  }

  /** Emit with an acknowledgement; the hub's envelope `{ok, data}` or `{ok: false, error}`. */
  async call(event, data, timeoutMs = CALL_TIMEOUT_MS) {
    const args = data === undefined ? [event] : [event, data];
    try {
      return await this.socket.timeout(timeoutMs).emitWithAck(...args);
    } catch {
      return { ok: false, error: { code: "timeout", message: `no answer to ${event} within ${timeoutMs} ms` } };
    }
  }

  /** An HTTP call with the token: `{ok, status, data}` or `{ok: false, status, error}`. */
  async api(method, path, body, { idempotencyKey = null, headers = {}, retried = false } = {}) {
    const init = { method, headers: { Authorization: `Bearer ${this.token}`, ...headers } };
    if (idempotencyKey) init.headers["Idempotency-Key"] = idempotencyKey;
    if (body instanceof Blob || body instanceof ArrayBuffer || body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined && body !== null) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(`${this.url}${path}`, init);
    } catch (err) {
      return { ok: false, status: 0, error: { code: "network_error", message: String(err) } };
    }
    const json = (response.headers.get("Content-Type") || "").includes("application/json");
    const data = response.status === 204 ? null : json ? await response.json() : await response.text();
    if (response.ok) return { ok: true, status: response.status, data };
    if (response.status === 401 && this.renewToken && !retried && (await this.#renew())) {
      return this.api(method, path, body, { idempotencyKey, headers, retried: true });
    }
    const error = data && data.error ? data.error : { code: `http_${response.status}`, message: String(data) };
    return { ok: false, status: response.status, error };
  }

  /** A file the hub serves to the token's holder (an attachment): `{ok, blob}` or `{ok: false, error}`. */
  async blob(path) {
    try {
      const response = await fetch(`${this.url}${path}`, { headers: { Authorization: `Bearer ${this.token}` } });
      if (!response.ok) return { ok: false, status: response.status, error: (await response.json()).error };
      return { ok: true, blob: await response.blob() };
    } catch (err) {
      return { ok: false, status: 0, error: { code: "network_error", message: String(err) } };
    }
  }

  /** Upload a file (an attachment): the upload `{upload_id, url, content_type, size, filename}`. */
  async upload(file) {
    // multipart keeps the file's name as it is (a header could not carry Chinese).
    const form = new FormData();
    form.append("file", file, file.name || "file");
    return this.api("POST", "/api/v1/uploads", form);
  }

  /**
   * Send a chat message; retried with the same client_id when the hub did not answer, so it is
   * stored once. On success the message goes to the `chat:message` handlers like any other (the
   * hub does not echo it to the socket that sent it).
   */
  async sendMessage(conversationId, body, { attachments = [], sender = {}, private: isPrivate = false } = {}) {
    const clientId = crypto.randomUUID();
    const payload = { conversation_id: conversationId, client_id: clientId };
    if (body) payload.body = body;
    if (attachments.length) payload.attachments = attachments.map((a) => ({ upload_id: a.upload_id }));
    if (isPrivate) payload.private = true;
    let answer;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      answer = await this.call("chat:send", payload);
      const code = answer.ok ? null : answer.error.code;
      if (!["timeout", "db_unavailable", "rate_limited"].includes(code)) break;
      await sleep((answer.error.details?.retry_after_ms ?? 1_000) * (attempt + 1));
    }
    if (!answer.ok) return answer;
    const ack = answer.data;
    this.#chatMessage({
      id: ack.id,
      conversation_id: ack.conversation_id,
      seq: ack.seq,
      sender,
      client_id: ack.client_id,
      kind: "text",
      body: body || "",
      attachments,
      private: isPrivate,
      created_at: ack.created_at,
      own: true,
    });
    return answer;
  }

  /** Messages read by other means (chat:history) are held: the conversation's mark moves up. */
  holdConversation(conversationId, lastSeq) {
    this.#conversation(conversationId).settle(lastSeq);
  }

  /** Notifications up to `seq` are held (the page listed them itself). */
  holdNotifications(seq) {
    this.notifications.settle(seq);
  }

  /** What `auth.sync` and the `sync` event send: every mark known. */
  marks() {
    const sync = {};
    if (this.notifications.mark !== null) sync.notifications_since = this.notifications.mark;
    sync.conversations = {};
    for (const [id, stream] of this.conversations) {
      if (stream.mark !== null) sync.conversations[id] = stream.mark;
    }
    if (this.console && this.console.mark !== null) sync.console_since = this.console.mark;
    return sync;
  }

  /** Ask for what was missed now (after a gap, `sync:required`, or by hand). */
  async sync() {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        const answer = await this.call("sync", this.marks());
        if (answer.ok) this.#applySync(answer.data);
        else this.#emit("sync:failed", answer.error);
      } while (this.syncAgain && this.socket.connected);
    })();
    try {
      await this.syncing;
    } finally {
      this.syncing = null;
    }
    this.#checkGaps();
  }

  /** Drop the transport as a network failure would; socket.io-client reconnects by itself. */
  dropConnection() {
    this.socket.io.engine?.close();
  }

  close() {
    this.closed = true;
    this.socket.disconnect();
    this.#setState("offline", { code: "closed" });
  }

  // Incoming ---------------------------------------------------------------------------------

  #listen() {
    const s = this.socket;
    s.on("connect", () => {
      const again = this.connectedOnce;
      this.connectedOnce = true;
      this.#setState("online");
      this.#emit(again ? "reconnected" : "connected", {});
    });
    s.on("disconnect", (reason) => {
      if (this.closed) return;
      if (s.active) {
        this.#setState("reconnecting", { reason });
      } else {
        // The hub ended the session (server disconnect): no automatic reconnection.
        this.#setState("offline", { reason });
        setTimeout(() => this.#reconnect(), RETRY_REFUSED_MS);
      }
    });
    s.on("connect_error", (err) => this.#refused(err));
    s.io.on("reconnect_attempt", () => this.#setState("reconnecting"));
    s.on("auth:expired", async () => {
      await this.#renew();
    });
    s.on("sync", (envelope) => {
      if (envelope && envelope.ok) this.#applySync(envelope.data);
      this.#checkGaps();
    });
    s.on("sync:required", () => this.sync());
    s.on("notification", (item) => this.#notification(item));
    s.on("chat:message", (message) => this.#chatMessage(message));
    s.on("console:snapshot", (snapshot) => this.#snapshot(snapshot));
    s.onAny((event, data) => {
      if (["sync", "sync:required", "notification", "chat:message", "console:snapshot"].includes(event)) return;
      if (this.console && CONSOLE_EVENTS.has(event) && data && typeof data.seq === "number") {
        this.#consoleEntry(event, data);
        return;
      }
      this.#emit(event, data);
    });
  }

  async #refused(err) {
    const code = err.data?.code ?? "connect_failed";
    if (this.socket.active) {
      // A transport failure: socket.io-client keeps trying.
      this.#setState("reconnecting", { code });
      return;
    }
    if (code === "token_expired" && (await this.#renew())) return;
    if (PASSING_REFUSALS.has(code)) {
      this.#setState("reconnecting", { code });
      setTimeout(() => this.#reconnect(), RETRY_REFUSED_MS);
      return;
    }
    this.#setState("offline", { code, message: err.message });
    this.#emit("refused", { code, message: err.message });
  }

  #reconnect() {
    if (this.closed || this.socket.connected) return;
    this.#setState("reconnecting");
    this.socket.connect();
  }

  async #renew() {
    if (!this.renewToken) return false;
    const token = await this.renewToken();
    if (!token) return false;
    this.token = token;
    if (!this.socket.connected) this.#reconnect();
    else this.call("auth:refresh", { token });
    return true;
  }

  #notification(item) {
    if (typeof item?.seq !== "number") return;
    if (!this.notifications.take(item.seq)) return;
    this.#emit("notification", item);
    if (this.notifications.hasGap) this.#gapSeen();
  }

  #conversation(id) {
    if (!this.conversations.has(id)) this.conversations.set(id, new SeqStream());
    return this.conversations.get(id);
  }

  #chatMessage(message) {
    if (!message || typeof message.seq !== "number") return;
    const stream = this.#conversation(message.conversation_id);
    if (!stream.take(message.seq)) return;
    this.#emit("chat:message", message);
    if (stream.hasGap) this.#gapSeen();
  }

  #snapshot(snapshot) {
    if (this.console && typeof snapshot?.seq === "number" && this.console.mark === null) {
      // The first snapshot is where this console starts; what came before it is in it.
      this.console.settle(snapshot.seq);
      this.#emit("console:snapshot", snapshot);
      const waiting = this.consoleWaiting;
      this.consoleWaiting = [];
      for (const [event, data] of waiting) this.#consoleEntry(event, data);
      return;
    }
    this.#emit("console:snapshot", snapshot);
  }

  #consoleEntry(event, data) {
    if (this.console.mark === null) {
      this.consoleWaiting.push([event, data]);
      return;
    }
    if (!this.console.take(data.seq)) return;
    this.#emit(event, data);
    if (this.console.hasGap) this.#gapSeen();
  }

  #gapSeen() {
    // While a sync answer is applied, a gap it leaves is looked at once it is applied.
    if (!this.applying) this.sync();
  }

  #applySync(data) {
    if (!data) return;
    this.applying = true;
    try {
      this.#applySyncData(data);
    } finally {
      this.applying = false;
    }
  }

  #applySyncData(data) {
    let more = false;
    if (data.notifications) {
      for (const item of data.notifications.items) this.#notification(item);
      more ||= data.notifications.more;
    }
    if (typeof data.notifications_unread === "number") {
      this.#emit("notifications:unread", { unread: data.notifications_unread });
    }
    for (const [id, answer] of Object.entries(data.conversations || {})) {
      if (answer.error) {
        this.conversations.delete(id);
        this.#emit("conversation:lost", { conversation_id: id, error: answer.error });
        continue;
      }
      for (const message of answer.messages) this.#chatMessage(message);
      if (answer.more) more = true;
      else this.#conversation(id).settle(answer.last_seq);
    }
    if (data.console && this.console) {
      const c = data.console;
      if (c.reset) {
        // Away longer than the stream keeps: start again from a fresh snapshot.
        this.console = new SeqStream();
        this.#emit("console:reset", {});
        this.call("console:snapshot").then((answer) => answer.ok && this.#snapshot(answer.data));
      } else {
        for (const entry of c.events) this.#consoleEntry(entry.event, entry.data);
        if (c.more) more = true;
        else this.console.settle(c.last_seq);
      }
    }
    this.#emit("synced", data);
    if (more) this.sync();
  }

  #checkGaps() {
    const open =
      this.notifications.hasGap ||
      [...this.conversations.values()].some((s) => s.hasGap) ||
      (this.console && this.console.hasGap);
    if (!open || this.gapTimer) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      if (this.socket.connected) this.sync();
    }, GAP_RETRY_MS);
  }

  #setState(state, detail = {}) {
    // Without a network every attempt fails: the page says offline, not reconnecting, until the
    // browser is online again (its "online" event then says reconnecting). Node, which runs this
    // class in tests/js, has no navigator.
    if (!this.closed && globalThis.navigator?.onLine === false && (state === "reconnecting" || state === "connecting")) {
      [state, detail] = ["offline", { code: "browser_offline" }];
    }
    if (state === this.state && JSON.stringify(detail) === JSON.stringify(this.stateDetail)) return;
    this.state = state;
    this.stateDetail = detail;
    this.onState(state, detail);
    this.#emit("state", { state, ...detail });
  }

  #emit(event, data) {
    for (const fn of this.handlers.get(event) || []) {
      try {
        fn(data);
      } catch (err) {
        console.error(`handler of ${event} failed`, err);
      }
    }
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
