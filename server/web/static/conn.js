// One WebSocket to the server (JSON subprotocol), requests matched to replies by rid,
// and reconnection with backoff while the user is logged in.
export class RequestError extends Error {
  // op: the refused request's op, which tells apart refusals that share a code (never the reason's wording).
  constructor(code, reason, reply, op) { super(code + ": " + reason); this.code = code; this.reason = reason; this.reply = reply || {}; this.op = op; }
}

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
      let opened = false;
      ws.onopen = () => {
        opened = true; this.opening = null; this.delay = 300;
        resolve();
        if (this.onOpen) this.onOpen();
      };
      ws.onmessage = (e) => this._frame(e.data);
      ws.onclose = (e) => {
        if (this.ws === ws) this.ws = null;
        this.opening = null;
        for (const [, p] of this.pending) p.reject(new RequestError("disconnected", "connection closed"));
        this.pending.clear();
        if (!opened) reject(new RequestError("disconnected", "cannot connect"));
        if (this.onClose) this.onClose(e.code, e.reason);
        if (this.keep) this._retry();
      };
    });
    return this.opening;
  }
  _retry() {
    clearTimeout(this.timer);
    const wait = this.delay * (0.75 + Math.random() * 0.5);
    this.delay = Math.min(this.delay * 2, 5000);
    this.timer = setTimeout(() => { if (this.keep) this.connect().catch(() => {}); }, wait);
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
      this.pending.set(rid, { resolve, reject, op });
      this.ws.send(JSON.stringify({ ...args, op, rid }));
    });
  }
}
