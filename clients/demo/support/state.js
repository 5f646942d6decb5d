// What the console knows, built as "the last snapshot plus every console entry above its seq"
// (docs/console.md). Plain data and no DOM, so the rules are in one place:
//
// - Work items and bookings are kept by id, the highest `version` winning, so entries applied
//   twice or a little out of order (each item and booking has its own relay lane) change nothing.
// - The header's counts are not adjusted entry by entry (two entries of one booking crossing
//   would count twice); they are worked out again from the snapshot's counts and, for each
//   booking or item an entry touched since, where it stood at the snapshot and where it stands now.
// - A booking whose status at the snapshot is unknown (one that was awaiting payment, or already
//   finished, when the snapshot was read) asks for a fresh snapshot: the entry is then at or
//   below the new snapshot's seq, so the booking's status there is known.
//
// hub.js has already dropped duplicates and held back what came before the first snapshot.

export const PRIORITIES = ["urgent", "high", "normal", "low"];
export const PRIORITY_RANK = { urgent: 0, high: 1, normal: 2, low: 3 };
export const BOOKING_STATUSES = [
  "pending_payment", "dispatching", "accepted", "on_the_way", "arrived", "in_service",
  "completed", "cancelled", "expired",
];
export const ACTIVE = new Set(["dispatching", "accepted", "on_the_way", "arrived", "in_service"]);
export const PRESENCE_STATUSES = ["online", "busy", "on_leave", "away", "offline"];
// The city whose calendar day "today" means (HUB_BOOKING_TIMEZONE of the demo).
const TIME_ZONE = "Asia/Shanghai";
// Console entries kept to rebuild the state on a later snapshot; the stream replays the rest.
const LOG_LIMIT = 5_000;

/** The local date (YYYY-MM-DD) of an ISO timestamp in the demo city. */
export function localDate(iso) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TIME_ZONE }).format(new Date(iso));
}

export class ConsoleState {
  constructor() {
    this.clear();
  }

  /** Forget everything: before the first snapshot, and when the stream says `reset`. */
  clear() {
    this.snapshot = null; // the last snapshot taken
    this.items = new Map(); // id -> item (highest version)
    this.bookings = new Map(); // id -> booking (highest version)
    this.statusLog = new Map(); // booking id -> [[seq, status]] sorted by seq
    this.itemLog = new Map(); // item id -> [[seq, item state, priority]] sorted by seq
    this.log = new Map(); // seq -> [event, data]: every entry above the first snapshot
    this.timelines = new Map(); // booking id -> Map(entry id -> entry), for bookings opened
    this.applied = []; // seqs in the order they were applied (a test hook shows them)
    this.wantSnapshot = false; // an entry touched a booking whose earlier status is unknown
  }

  get seq() {
    return this.snapshot ? this.snapshot.seq : null;
  }

  /** A snapshot: the first, or a later one (a reconnect, a refresh). */
  applySnapshot(snapshot) {
    this.snapshot = snapshot;
    this.wantSnapshot = false;
    for (const item of snapshot.items || []) {
      this.#keepItem(item);
      this.#logItem(item.id, snapshot.seq, item.state, item.priority, true);
    }
    for (const booking of snapshot.bookings?.active || []) {
      this.#keepBooking(booking);
      this.#logStatus(booking.id, snapshot.seq, booking.status, true);
    }
    // What arrived above this snapshot's seq (before it, or kept from earlier) applies again.
    for (const seq of [...this.log.keys()].sort((a, b) => a - b)) {
      if (seq > snapshot.seq) this.#apply(...this.log.get(seq), seq);
    }
    this.#checkUnknown();
  }

  /** One console entry (`item:updated`, `booking:updated`, `order:alert`, `dispatch:escalated`). */
  applyEntry(event, data) {
    const seq = data.seq;
    this.log.set(seq, [event, data]);
    if (this.log.size > LOG_LIMIT) this.log.delete(Math.min(...this.log.keys()));
    this.applied.push(seq);
    if (this.applied.length > LOG_LIMIT) this.applied.shift();
    this.#apply(event, data, seq);
    this.#checkUnknown();
  }

  #apply(event, data, seq) {
    if (event === "item:updated") {
      this.#keepItem(data.item);
      this.#logItem(data.item.id, seq, data.item.state, data.item.priority, false, data.action);
    } else if (data.booking) {
      this.#keepBooking(data.booking);
      this.#logStatus(data.booking.id, seq, data.booking.status, false, data.entry);
      if (data.entry) this.addTimeline(data.booking.id, [data.entry]);
    }
  }

  /** An item as an action's ack returned it: shown at once, the stream's copy follows. */
  noteItem(item) {
    if (item && item.id && typeof item.version === "number") this.#keepItem(item);
  }

  /** A booking as an action's ack or booking:get returned it. */
  noteBooking(booking) {
    if (booking && booking.id && typeof booking.version === "number") this.#keepBooking(booking);
  }

  #keepItem(item) {
    const known = this.items.get(item.id);
    if (!known || item.version > known.version) this.items.set(item.id, item);
  }

  #keepBooking(booking) {
    const known = this.bookings.get(booking.id);
    if (!known || booking.version > known.version) this.bookings.set(booking.id, booking);
  }

  #logStatus(id, seq, status, fromSnapshot, entry = null) {
    const entries = this.statusLog.get(id) || [];
    if (!entries.some(([s]) => s === seq)) {
      entries.push([seq, status, fromSnapshot ? "snapshot" : entry?.kind]);
      entries.sort((a, b) => a[0] - b[0]);
    }
    this.statusLog.set(id, entries);
  }

  #logItem(id, seq, state, priority, fromSnapshot, action = null) {
    const entries = this.itemLog.get(id) || [];
    if (!entries.some(([s]) => s === seq)) {
      entries.push([seq, state, priority, fromSnapshot ? "snapshot" : action]);
      entries.sort((a, b) => a[0] - b[0]);
    }
    this.itemLog.set(id, entries);
  }

  /** Where a booking stood at the snapshot: a status, null (not made yet), or undefined (unknown). */
  #statusAtSnapshot(id) {
    const entries = this.statusLog.get(id) || [];
    const at = this.snapshot.seq;
    let known;
    for (const [seq, status] of entries) if (seq <= at) known = status;
    if (known !== undefined) return known;
    const after = entries.find(([seq]) => seq > at);
    if (after && after[2] === "created") return null;
    // Not under way at the snapshot and not made since: awaiting payment, or over, if it is today's.
    return undefined;
  }

  #checkUnknown() {
    if (!this.snapshot) return;
    for (const [id, entries] of this.statusLog) {
      if (!entries.some(([seq]) => seq > this.snapshot.seq)) continue;
      if (this.#statusAtSnapshot(id) === undefined && this.#isToday(id)) this.wantSnapshot = true;
    }
  }

  #isToday(id) {
    const booking = this.bookings.get(id);
    return booking && this.snapshot?.bookings && localDate(booking.slot_start) === this.snapshot.bookings.today.date;
  }

  // Derived figures ----------------------------------------------------------------------------

  /** Today's bookings by status: the snapshot's, moved by what happened since. */
  todayCounts() {
    const today = this.snapshot?.bookings?.today;
    if (!today) return null;
    const counts = { ...today.by_status };
    for (const [id, entries] of this.statusLog) {
      const last = entries[entries.length - 1];
      if (last[0] <= this.snapshot.seq || !this.#isToday(id)) continue;
      const before = this.#statusAtSnapshot(id);
      if (before === undefined) continue; // a fresh snapshot is on its way
      if (before !== null) counts[before] = (counts[before] || 0) - 1;
      counts[last[1]] = (counts[last[1]] || 0) + 1;
    }
    return { date: today.date, by_status: counts };
  }

  /** Unresolved items by priority. */
  itemCounts() {
    if (!this.snapshot) return null;
    if (!this.snapshot.items_more) {
      const counts = Object.fromEntries(PRIORITIES.map((p) => [p, 0]));
      for (const item of this.items.values()) if (item.state !== "resolved") counts[item.priority] += 1;
      return counts;
    }
    // More items than the snapshot lists: its counts, moved by the items touched since.
    const counts = { ...this.snapshot.items_by_priority };
    for (const entries of this.itemLog.values()) {
      const last = entries[entries.length - 1];
      if (last[0] <= this.snapshot.seq) continue;
      const before = entries.filter(([seq]) => seq <= this.snapshot.seq).pop();
      const after = entries.find(([seq]) => seq > this.snapshot.seq);
      const wasOpen = before ? before[1] !== "resolved" : after[3] !== "opened";
      const wasPriority = before ? before[2] : last[2];
      if (wasOpen) counts[wasPriority] -= 1;
      if (last[1] !== "resolved") counts[last[2]] += 1;
    }
    return counts;
  }

  /** Unresolved items, most pressing first, then oldest. */
  openItems() {
    return [...this.items.values()]
      .filter((item) => item.state !== "resolved")
      .sort((a, b) => PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority] || a.opened_at.localeCompare(b.opened_at));
  }

  /** Bookings under way, soonest first; then those that finished while the console watched. */
  monitoredBookings() {
    const all = [...this.bookings.values()];
    const bySlot = (a, b) => a.slot_start.localeCompare(b.slot_start) || a.id.localeCompare(b.id);
    const active = all.filter((b) => ACTIVE.has(b.status)).sort(bySlot);
    const done = all
      .filter((b) => !ACTIVE.has(b.status))
      .sort((a, b) => b.updated_at.localeCompare(a.updated_at))
      .slice(0, 20);
    return { active, done };
  }

  /** A booking's whole timeline (booking:get): from now on the stream's entries add to it. */
  openTimeline(bookingId, entries) {
    if (!this.timelines.has(bookingId)) this.timelines.set(bookingId, new Map());
    this.addTimeline(bookingId, entries);
  }

  /** Entries of a booking whose timeline is open, kept once each by id (live or replayed). */
  addTimeline(bookingId, entries) {
    const kept = this.timelines.get(bookingId);
    if (!kept) return;
    for (const entry of entries) kept.set(entry.id, entry);
  }

  timeline(bookingId) {
    const kept = this.timelines.get(bookingId);
    return kept ? [...kept.values()].sort((a, b) => a.id - b.id) : null;
  }
}
