// The board's live feed: ws/board/ with resync, and polling while the socket is down.
//
// Protocol (../shared/docs/api.md, cad/live/consumers.py): the server says `hello`; a fresh page asks
// for a `snapshot`, a page that has seen events asks to `resync` from its last seq. Events
// arrive in seq order; anything at or below the last seq held is already applied. With `batch`
// the socket is opened with `?batch=1` and may send several consecutive events in one frame,
// `{"type": "events", "events": [...]}`, applied one by one as if each had come alone.
// While the socket is down the page polls the snapshot over HTTP every POLL_MS and shows a
// banner; when the socket returns it resyncs from the last seq and the banner goes.

const POLL_MS = 5000;
const PING_MS = 20000;
const SILENCE_MS = 50000; // no message (not even a pong) for this long: the socket is dead
const MAX_BACKOFF_MS = 15000;

export class LiveFeed {
  constructor({ wsPath, snapshotUrl, onSnapshot, onEvent, onState, batch = false }) {
    this.wsPath = batch ? `${wsPath}${wsPath.includes("?") ? "&" : "?"}batch=1` : wsPath;
    this.snapshotUrl = snapshotUrl;
    this.onSnapshot = onSnapshot;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastSeq = null; // null until the first snapshot
    this.ws = null;
    this.backoff = 1000;
    this.pollTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.state = "connecting";
  }

  start() {
    this.connect();
    this.pingTimer = setInterval(() => this.heartbeat(), PING_MS);
  }

  setState(state, detail = "") {
    this.state = state;
    this.onState(state, detail);
    if (state === "live") this.stopPolling();
    else this.startPolling();
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
      if (e.code === 4401 || e.code === 4403) {
        this.setState("refused", "Your session has ended or lacks the despatcher role: log in again.");
        return;
      }
      this.scheduleReconnect(`closed (${e.code})`);
    };
  }

  scheduleReconnect(why) {
    this.setState("down", why);
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
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
        this.backoff = 1000;
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
    if (this.pollTimer) return;
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
    };
    poll();
    this.pollTimer = setInterval(poll, POLL_MS);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}
