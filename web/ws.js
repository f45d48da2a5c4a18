//! The WebSocket connection to Konsult: `hello` with the resume token, requests with `rid`
//! matched to their replies, pushes to subscribers, and reconnection with backoff.

/// Codes after which reconnecting cannot help: the token is bad or the account is gone.
const FATAL_CLOSE = new Set([4001, 4002, 4010, 4011]);

export class Connection {
  /// `token` from POST /api/login. `onState(state)` hears `connecting`, `open`,
  /// `reconnecting`, `closed`; `onFatal(code)` hears why the connection cannot go on.
  constructor(token, { onState = () => {}, onFatal = () => {} } = {}) {
    this.token = token;
    this.onState = onState;
    this.onFatal = onFatal;
    this.resume = null;
    this.welcome = null;
    this.handlers = new Map();
    this.pending = new Map();
    this.nextRid = 1;
    this.attempt = 0;
    this.stopped = false;
    this.retryAfter = 0;
  }

  /// Subscribes to pushes of one type (or `*` for all); returns the unsubscribe function.
  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(handler);
    return () => this.handlers.get(type)?.delete(handler);
  }

  /// Opens the socket; resolves with `welcome` of the first connection.
  start() {
    return new Promise((resolve, reject) => {
      this.firstWelcome = { resolve, reject };
      this.open();
    });
  }

  open() {
    this.onState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws = ws;
    ws.onopen = () => {
      const hello = { type: 'hello', v: 1, token: this.token };
      if (this.resume) hello.resume = this.resume;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      this.dispatch(msg);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.failPending('closed');
      if (this.stopped) return;
      if (FATAL_CLOSE.has(event.code)) {
        this.stopped = true;
        this.onState('closed');
        this.onFatal(event.code);
        this.firstWelcome?.reject(new Error(`closed ${event.code}`));
        return;
      }
      this.onState('reconnecting');
      const backoff = Math.min(10000, 500 * 2 ** Math.min(this.attempt, 5));
      const delay = Math.max(this.retryAfter, backoff * (0.75 + Math.random() / 2));
      this.retryAfter = 0;
      this.attempt += 1;
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  dispatch(msg) {
    if (msg.type === 'welcome') {
      this.welcome = msg;
      this.resume = msg.resume;
      this.attempt = 0;
      this.onState('open');
      if (this.firstWelcome) {
        this.firstWelcome.resolve(msg);
        this.firstWelcome = null;
      }
    }
    if (msg.type === 'server_shutdown') this.retryAfter = msg.retry_after_ms ?? 1000;
    if (msg.re !== undefined && this.pending.has(msg.re)) {
      const { resolve, reject } = this.pending.get(msg.re);
      this.pending.delete(msg.re);
      if (msg.type === 'error') reject(Object.assign(new Error(msg.message), { code: msg.code }));
      else resolve(msg);
    }
    for (const key of [msg.type, '*']) {
      for (const handler of this.handlers.get(key) ?? []) {
        try {
          handler(msg);
        } catch (err) {
          console.error('handler of', msg.type, err);
        }
      }
    }
  }

  failPending(reason) {
    for (const { reject } of this.pending.values()) {
      reject(Object.assign(new Error(reason), { code: 'unavailable' }));
    }
    this.pending.clear();
  }

  get isOpen() {
    return this.ws?.readyState === WebSocket.OPEN && this.welcome !== null;
  }

  /// Sends a message without waiting for a reply (e.g. trickled ICE candidates).
  send(msg) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /// Sends a request with a `rid`; resolves with its reply, rejects with the `error` (its
  /// `code` on the Error).
  request(msg, timeoutMs = 15000) {
    const rid = this.nextRid++;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...msg, rid })) {
        reject(Object.assign(new Error('not connected'), { code: 'unavailable' }));
        return;
      }
      const timer = setTimeout(() => {
        if (this.pending.delete(rid)) reject(Object.assign(new Error('timeout'), { code: 'timeout' }));
      }, timeoutMs);
      this.pending.set(rid, {
        resolve: (m) => { clearTimeout(timer); resolve(m); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  }

  /// Closes for good (logout).
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close(1000);
    this.failPending('closed');
  }
}
