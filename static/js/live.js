// The board's live feed: ws/board/ with resync, and polling while the socket is down.
//
// Protocol (../shared/docs/api.md, cad/live/consumers.py): the server says `hello`; a fresh page asks
// for a `snapshot`, a page that has seen events asks to `resync` from its last seq. Events
// arrive in seq order; anything at or below the last seq held is already applied. With `batch`
// the socket is opened with `?batch=1` and may send several consecutive events in one frame,
// `{"type": "events", "events": [...]}`, applied one by one as if each had come alone.
// While the socket is down the page polls the snapshot over HTTP, POLL_MS after the last poll
// ended, and shows a banner; when the socket returns it resyncs from the last seq and the
// banner goes.
//
// Reconnecting waits longer after each failure, and the wait starts again only once a socket
// has stayed live for STABLE_MS: a socket that opens, says hello and is closed again at once
// would otherwise be retried every second for ever. The server closes with 4408 a desk that
// stopped reading its frames (docs/decisions/0037): the connection is too slow or the screen
// too busy, and reconnecting at once would send it the same backlog again, so it waits
// SLOW_MIN_MS to SLOW_MAX_MS and the banner says why. Each wait is stretched by a random part
// of up to half of it (JITTER): when a daphne restarts, every desk it served loses its socket
// in the same instant, and without it they would all come back, and all resync, in the same
// instant too. Stretched, never shortened: the waits above are the least a desk waits.

const POLL_MS = 5000;
const PING_MS = 20000;
const SILENCE_MS = 50000; // no message (not even a pong) for this long: the socket is dead
const MAX_BACKOFF_MS = 15000;
const STABLE_MS = 30000;
const SLOW_MIN_MS = 5000;
const SLOW_MAX_MS = 60000;
const JITTER = 0.5;
export const CLOSE_NOT_READING = 4408; // cad/live/consumers.py

export class LiveFeed {
  constructor({
    wsPath, snapshotUrl, onSnapshot, onEvent, onState, batch = false, random = Math.random,
  }) {
    this.wsPath = batch ? `${wsPath}${wsPath.includes("?") ? "&" : "?"}batch=1` : wsPath;
    this.snapshotUrl = snapshotUrl;
    this.onSnapshot = onSnapshot;
    this.onEvent = onEvent;
    this.onState = onState;
    this.random = random; // for the jitter; a test may pass its own
    this.lastSeq = null; // null until the first snapshot
    this.ws = null;
    this.backoff = 1000;
    this.pollTimer = null;
    this.pollRun = null; // while polling, a token of this run of polls
    this.pingTimer = null;
    this.lastHeard = 0;
    this.liveSince = 0; // when the current socket went live; 0 while it is not
    this.state = "connecting";
  }

  start() {
    this.connect();
    this.pingTimer = setInterval(() => this.heartbeat(), PING_MS);
  }

  setState(state, detail = "") {
    this.state = state;
    this.onState(state, detail);
    if (state === "live") {
      this.liveSince ||= Date.now();
      this.stopPolling();
    } else this.startPolling();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let ws;
    try {
      ws = new WebSocket(`${scheme}://${location.host}${this.wsPath}`);
    } catch (err) {
      this.scheduleReconnect(String(err));
      return;
    }
    this.ws = ws;
    ws.onmessage = (e) => {
      this.lastHeard = Date.now();
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      this.handle(msg);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.liveSince && Date.now() - this.liveSince >= STABLE_MS) this.backoff = 1000;
      this.liveSince = 0;
      if (e.code === 4401 || e.code === 4403) {
        this.setState("refused", "Your session has ended or lacks the despatcher role: log in again.");
        return;
      }
      if (e.code === CLOSE_NOT_READING) {
        this.scheduleReconnect("slow", SLOW_MIN_MS, SLOW_MAX_MS);
        return;
      }
      this.scheduleReconnect(`closed (${e.code})`);
    };
  }

  scheduleReconnect(why, least = 0, most = MAX_BACKOFF_MS) {
    const step = Math.min(Math.max(this.backoff, least), most);
    this.backoff = Math.min(step * 2, most);
    const wait = Math.round(step * (1 + JITTER * this.random()));
    if (why === "slow") this.setState("slow", `reconnecting in ${Math.round(wait / 1000)} s`);
    else this.setState("down", why);
    setTimeout(() => this.connect(), wait);
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  heartbeat() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (this.lastHeard && Date.now() - this.lastHeard > SILENCE_MS) {
      this.ws.close(); // onclose reconnects
      return;
    }
    this.send({ type: "ping" });
  }

  handle(msg) {
    switch (msg.type) {
      case "hello":
        if (this.lastSeq === null) this.send({ type: "snapshot" });
        else this.send({ type: "resync", since: this.lastSeq });
        return;
      case "snapshot":
        this.applySnapshot(msg);
        this.setState("live");
        return;
      case "resynced":
        this.lastSeq = Math.max(this.lastSeq ?? 0, msg.seq);
        this.setState("live");
        return;
      case "events":
        for (const event of msg.events ?? []) {
          if (event?.type !== "events") this.handle(event);
        }
        return;
      case "pong":
      case "error":
        if (msg.type === "error") console.warn("board socket:", msg.detail);
        return;
      default:
        if (typeof msg.seq !== "number" || this.lastSeq === null) return; // snapshot pending
        if (msg.seq <= this.lastSeq) return; // already applied (e.g. from a poll)
        this.lastSeq = msg.seq;
        this.onEvent(msg);
    }
  }

  applySnapshot(msg) {
    this.lastSeq = msg.seq;
    this.onSnapshot(msg.data, msg.seq);
  }

  startPolling() {
    if (this.pollRun) return;
    const run = {}; // a poll still out from an earlier run schedules nothing
    this.pollRun = run;
    // The next poll is timed from the end of the last: on a link slow enough to take longer
    // than POLL_MS for a snapshot, polls would otherwise overlap and take all of it.
    const poll = async () => {
      try {
        // Marked background: a board left open is not user activity (idle sign-out).
        const r = await fetch(this.snapshotUrl, {
          credentials: "same-origin",
          headers: { "X-Beacon-Background": "1" },
        });
        if (r.ok && this.state !== "live") this.applySnapshot(await r.json());
      } catch {
        /* the server itself is unreachable: the banner already says so */
      }
      if (this.pollRun === run) this.pollTimer = setTimeout(poll, POLL_MS);
    };
    poll();
  }

  stopPolling() {
    this.pollRun = null;
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }
}
