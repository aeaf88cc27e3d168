// One WebSocket to the server (JSON subprotocol), requests matched to replies by rid,
// and reconnection with backoff while the user is logged in.
export class RequestError extends Error {
  // op: the refused request's op, which tells apart refusals that share a code (never the reason's wording).
  constructor(code, reason, reply, op) { super(code + ": " + reason); this.code = code; this.reason = reason; this.reply = reply || {}; this.op = op; }
}

// A connection can die without a close event: a network that drops packets silently (a phone
// between cells, a NAT that forgot the flow, a server host that froze) leaves the socket "open" for
// minutes, and every request on it waits. The server answers a request in milliseconds, so a
// request that has waited QUIET_MS while nothing else showed the connection alive (no frame came,
// none of our bytes went out) means a dead connection: it is dropped and a new one opened, and what
// waited goes again after the new auth (the outbox with the same client_msg_id, which the server
// answers with the first seq if the first try was stored after all). 15 s is far past any healthy
// answer, even a busy server's, yet short enough that "sending" does not hang on for the user. A
// connection that keeps showing life (events come, an upload's bytes leave on a slow uplink) may
// be slow rather than dead, and is given until ANSWER_MS, well past the server's own 30 s bound
// on a database that does not answer (storage.command_timeout_seconds), after which it answers.
const QUIET_MS = 15 * 1000;
const ANSWER_MS = 2 * 60 * 1000;
// An opening handshake is given longer than the server's handshake_timeout_seconds (60 s), within
// which a server pacing a flood of handshakes may answer (docs/protocol.md): only one nothing
// answers in that time is given up and tried again.
const OPEN_MS = 65 * 1000;
const TICK_MS = 1000;
// A page that only reads sends nothing, so a dead connection showed "connected" for good while the
// messages sent meanwhile never came (a reviewer's silent route: 90 s and counting). Once the open
// socket has shown no life for IDLE_MS while logged in, a `ping` (**[ext]**: answered at once by the
// node this page is connected to; a cluster's gateway answers it, so idle pages add nothing at the
// home) goes out, and the watchdog above drops the connection if it is not answered in QUIET_MS:
// a dead connection is noticed within IDLE_MS + QUIET_MS (40 s), and the reconnect catches up.
// The server's own pings (every 30 s) are answered by the browser and never reach this code.
const IDLE_MS = 25 * 1000;
const PROBE_OP = "ping";

export class Conn {
  constructor(url, { onOpen, onEvent, onClose }) {
    this.url = url;
    this.onOpen = onOpen; this.onEvent = onEvent; this.onClose = onClose;
    this.ws = null;
    this.rid = 0;
    this.pending = new Map();
    this.keep = false;        // reconnect when the socket drops (set while logged in)
    this.delay = 300;
    this.timer = null;
    this.opening = null;
    this.failOpening = null;  // rejects the opening socket's connect() when it closes before it opens
    this.watch = null;        // the watchdog of the open socket's requests (_check)
    this.alive = 0;           // when the open socket last showed life: a frame came, or our bytes left
    this.buffered = 0;        // its bufferedAmount at the last look
    // The browser's word on the network: gone (the socket cannot be trusted: dropped at once, and
    // the outbox waits) or back (a new connection now rather than after the backoff).
    if (typeof window !== "undefined") {
      window.addEventListener("offline", () => { if (this.ws) this.restart("the network went away"); });
      window.addEventListener("online", () => {
        if (!this.keep) return;
        this.delay = 300;
        if (this.open) this._probe(); else if (!this.opening) { clearTimeout(this.timer); this.connect().catch(() => {}); }
      });
    }
  }
  get open() { return this.ws !== null && this.ws.readyState === WebSocket.OPEN; }

  connect() {
    if (this.open) return Promise.resolve();
    if (this.opening) return this.opening;
    clearTimeout(this.timer);
    this.opening = new Promise((resolve, reject) => {
      let ws;
      try { ws = new WebSocket(this.url, ["qunguan.v1+json"]); } catch (e) { this.opening = null; reject(e); return; }
      this.ws = ws;
      this.failOpening = reject;
      const gaveUp = setTimeout(() => this._drop(ws, 4000, "no answer to the opening handshake"), OPEN_MS);
      ws.onopen = () => {
        this.opening = null; this.failOpening = null; this.delay = 300;
        clearTimeout(gaveUp);
        this.alive = Date.now(); this.buffered = 0;
        clearInterval(this.watch);
        this.watch = setInterval(() => this._check(ws), TICK_MS);
        resolve();
        if (this.onOpen) this.onOpen();
      };
      ws.onmessage = (e) => { this.alive = Date.now(); this._frame(e.data); };
      ws.onclose = (e) => { clearTimeout(gaveUp); this._closed(ws, e.code, e.reason); };
    });
    return this.opening;
  }
  // The socket ws is gone (its close event, or _drop): its requests fail as "disconnected", and
  // while logged in a new one is tried after the backoff.
  _closed(ws, code, reason) {
    if (this.ws !== ws) return;   // an earlier socket, already dropped
    this.ws = null;
    this.opening = null;
    clearInterval(this.watch); this.watch = null;
    for (const [, p] of this.pending) p.reject(new RequestError("disconnected", "connection closed"));
    this.pending.clear();
    const fail = this.failOpening;
    this.failOpening = null;
    if (fail) fail(new RequestError("disconnected", "cannot connect"));
    if (this.onClose) this.onClose(code, reason);
    if (this.keep) this._retry();
  }
  // Give up on socket ws without waiting for its close event, which on a dead connection comes
  // only when the browser's own closing handshake times out (a minute and more).
  _drop(ws, code, reason) {
    if (this.ws !== ws) return;
    ws.onopen = null; ws.onmessage = null; ws.onclose = null;
    try { ws.close(code, reason); } catch { /* already closing */ }
    this._closed(ws, code, reason);
  }
  // Once a second while ws is open: is a request overdue on a connection that shows no life?
  _check(ws) {
    if (this.ws !== ws) return;
    const now = Date.now();
    const b = ws.bufferedAmount;
    if (b < this.buffered) this.alive = now;   // our bytes are leaving: the peer takes them
    this.buffered = b;
    for (const p of this.pending.values()) {
      const waited = now - p.at;
      if ((waited >= QUIET_MS && now - this.alive >= QUIET_MS) || waited >= ANSWER_MS) {
        this._drop(ws, 4000, "no answer");
        return;
      }
    }
    if (this.keep && this.pending.size === 0 && now - this.alive >= IDLE_MS) this._probe();
  }
  // A request whose answer shows the connection alive (the watchdog drops it if none comes).
  _probe() {
    this.request(PROBE_OP).catch(() => {});
  }
  _retry() {
    clearTimeout(this.timer);
    const wait = this.delay * (0.75 + Math.random() * 0.5);
    this.delay = Math.min(this.delay * 2, 5000);
    this.timer = setTimeout(() => { if (this.keep) this.connect().catch(() => {}); }, wait);
  }
  // Give up on the open socket and make a new one after the backoff (a load balancer may send the
  // new one to another node): for a connection the server keeps open but cannot serve now.
  restart(reason) {
    if (this.ws) this._drop(this.ws, 4000, reason);
  }
  close() {
    this.keep = false;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }
  _frame(data) {
    let f;
    try { f = JSON.parse(data); } catch { return; }
    if (f === null || typeof f !== "object") return;
    if ("re" in f) {
      const p = this.pending.get(f.re);
      if (!p) return;
      this.pending.delete(f.re);
      if (f.ok) p.resolve(f); else p.reject(new RequestError(f.code, f.reason || "", f, p.op));
    } else if ("ev" in f && this.onEvent) {
      this.onEvent(f);
    }
  }
  // Send a request; resolves with the success reply, rejects with RequestError.
  async request(op, args = {}, { connect = false } = {}) {
    if (!this.open) {
      if (!connect) throw new RequestError("disconnected", "not connected");
      await this.connect();
    }
    const rid = ++this.rid;
    return new Promise((resolve, reject) => {
      this.pending.set(rid, { resolve, reject, op, at: Date.now() });
      this.ws.send(JSON.stringify({ ...args, op, rid }));
    });
  }
}
