// /ws/officer/: the officer's unit and job, live (api.md "Officers' own view"). Same envelope
// as the board: `hello`, events {seq, type, data}, `resync` after a reconnect, `snapshot` when
// too much was missed (the page then reloads its unit and job over the API).

export class OfficerSocket {
  constructor(path, { onEvent, onSnapshot, onState }) {
    this.path = path;
    this.onEvent = onEvent;
    this.onSnapshot = onSnapshot;
    this.onState = onState;
    this.seq = null;
    this.backoff = 1000;
    this.ws = null;
    this.pinger = null;
    this.stopped = false;
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}${this.path}`);
    this.ws = ws;
    ws.addEventListener("message", (e) => this.receive(JSON.parse(e.data)));
    ws.addEventListener("open", () => {
      this.backoff = 1000;
      this.pinger = setInterval(() => this.send({ type: "ping" }), 25000);
    });
    ws.addEventListener("close", (e) => {
      clearInterval(this.pinger);
      if (e.code === 4401) {
        this.onState("signed-out");
      } else if (e.code === 4403) {
        this.onState("refused");
        return; // not an officer (any more): no point retrying
      } else {
        this.onState("offline");
      }
      if (!this.stopped) {
        // Jitter: after a server restart 2,000 phones must not all come back in the same second.
        setTimeout(() => this.open(), this.backoff * (0.5 + Math.random()));
        this.backoff = Math.min(this.backoff * 2, 30000);
      }
    });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  receive(message) {
    if (message.type === "hello") {
      this.onState("live");
      if (this.seq !== null && message.seq > this.seq) {
        this.send({ type: "resync", since: this.seq });
      } else {
        this.seq = message.seq;
      }
      // Whatever happened while the socket was down, the page's picture may be old.
      this.onSnapshot(message);
    } else if (message.type === "snapshot") {
      this.seq = message.seq;
      this.onSnapshot(message);
    } else if (message.type === "resynced" || message.type === "pong") {
      this.seq = Math.max(this.seq || 0, message.seq);
    } else if (typeof message.seq === "number" && message.data) {
      this.seq = Math.max(this.seq || 0, message.seq);
      this.onEvent(message);
    }
  }
}
