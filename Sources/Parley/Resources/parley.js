// parley.js: the browser client of Parley (Protocol.md). One ES module, no dependencies, no
// build step. A Parley server serves this very file at <path>/parley.js.
//
//   import { connect } from "/parley/parley.js";
//   const socket = connect("/parley", { query: { token: "ada" } });
//   socket.on("connect", () => console.log("connected as", socket.id));
//   socket.on("connect_error", (error) => console.log("refused:", error.message));
//   socket.on("chat", (message) => console.log(message.text));
//   socket.emit("chat", { text: "hi" });                 // kept while offline, sent on connect
//   const echoed = await socket.emitWithAck("echo", "hi", { timeout: 5000 });
//
// Same rules as the Swift client (ParleyClient): reconnection with exponential backoff and
// jitter, no reconnection after a middleware refusal or a server's disconnect, an offline
// buffer flushed in order before `connect` is reported, acknowledgements both ways with
// timeouts. Browsers hide WebSocket pings from scripts, so a connected client sends a
// heartbeat request (Protocol.md 5.4) after `pingInterval` of silence and drops the
// connection when nothing answers within `pingTimeout`.
//
// With a server that has connection state recovery (Protocol.md 5.5) the client keeps the
// session token and the offset of the last event, sends them with every reconnection, and
// reports `socket.recovered`: the events missed while away arrive first, in order, once.
// `auth` (an object, or a function, possibly async, called for every attempt) adds fresh
// credentials to each attempt's query; `retries` re-sends unanswered `emitWithAck`s.

/** Events of the connection itself, reported to `on` handlers; the server cannot send them. */
const CONNECTION_EVENTS = new Set(["connect", "connect_error", "disconnect", "reconnect_attempt", "reconnect",
  "reconnect_error", "reconnect_failed"]);
/** Names only the protocol may use (Protocol.md 6): `emit` refuses them. */
const RESERVED = new Set(["connect", "connect_error", "disconnect", "disconnecting", "error", "heartbeat"]);

/** Defaults, those of Socket.IO and of the Swift client (see Client.Options for the reasons). */
const DEFAULTS = {
  query: {},              // handshake query, e.g. { token }: what the server's middleware sees
  namespace: "/",         // sent as the query parameter `nsp`
  reconnection: true,     // networks drop and servers restart
  reconnectionAttempts: Infinity,
  reconnectionDelay: 1000,     // ms before the first attempt, doubled each time...
  reconnectionDelayMax: 5000,  // ...up to this
  randomizationFactor: 0.5,    // each delay moves by up to ±50 %: clients come back spread out
  timeout: 20000,         // ms for the WebSocket to open and the server's `connect` to arrive
  ackTimeout: 10000,      // ms emitWithAck waits unless told otherwise
  bufferLimit: 1000,      // emits kept while offline; the oldest are dropped beyond
  bufferByteLimit: 1048576, // bytes of encoded emits kept while offline (1 MiB); likewise
  autoConnect: true,      // connect at once; set false to add handlers first, then connect()
  auth: undefined,        // {…} or () => {…} / async () => {…}: added to the query of each attempt
  retries: 0,             // times an unanswered emitWithAck is sent again (0: once, as Socket.IO)
};

/**
 * Creates a client and (unless `autoConnect` is false) connects it.
 * @param {string} [url] `ws://host:port/parley`, `http(s)://...` or a path such as `/parley`
 *   (on the page's own host); default `/parley`.
 * @param {object} [options] see DEFAULTS.
 * @returns {Socket}
 */
export function connect(url = "/parley", options = {}) {
  return new Socket(url, options);
}

/** `ws(s)://` URL of `url` with `query` and `nsp` added. */
function webSocketURL(url, query, namespace) {
  const base = typeof location === "undefined" ? "http://localhost/" : location.href;
  const resolved = new URL(url, base);
  if (resolved.protocol === "http:") resolved.protocol = "ws:";
  if (resolved.protocol === "https:") resolved.protocol = "wss:";
  for (const [name, value] of Object.entries(query)) resolved.searchParams.set(name, String(value));
  if (namespace !== "/") resolved.searchParams.set("nsp", namespace);
  return resolved.href;
}

/** The delay of reconnection attempt `attempt` (from 0): Socket.IO's backoff, capped after jitter. */
export function backoffDelay(attempt, { reconnectionDelay, reconnectionDelayMax, randomizationFactor }, random = Math.random()) {
  const jitter = Math.min(Math.max(randomizationFactor, 0), 1);
  const exponential = reconnectionDelay * 2 ** Math.min(attempt, 62);
  return Math.max(0, Math.min(reconnectionDelayMax, exponential * (1 + jitter * (2 * random - 1))));
}

export class Socket {
  #url;
  #options;
  #ws = null;
  /** "idle" | "connecting" | "connected" | "waiting" (for the next reconnection attempt). */
  #phase = "idle";
  #attempt = 0;
  #timer = null;
  #handlers = new Map();
  #anyHandlers = [];
  /** Emits made while offline: { event, data, ack? } where ack = { resolve, reject, timer }. */
  #buffer = [];
  #nextId = 1;
  /** Acknowledgements awaited from the server, by id. */
  #pending = new Map();
  /** Connection state recovery (Protocol.md 5.5): the session token and the last offset. */
  #token = undefined;
  #offset = undefined;
  /** Deduplication key sent with every attempt when `retries` is set (Protocol.md 5.6). */
  #dedupeKey = undefined;
  /** Counts attempts, so that an `auth` answer for an abandoned one is ignored. */
  #generation = 0;
  /** Liveness (Protocol.md 5.4). */
  #lastHeard = 0;
  #heartbeatSentAt = 0;
  #livenessTimer = null;

  /** The socket id the server gave in `connect`, while connected. */
  id = undefined;
  /** Milliseconds, as announced by the server in `connect` (0: the server does not ping). */
  pingInterval = 0;
  pingTimeout = 0;
  /** Whether the last `connect` continued the previous session (same id, rooms, missed events). */
  recovered = false;
  /** Why the server could not recover the session the last attempt asked for, if it could not. */
  recoveryFailure = undefined;

  constructor(url, options = {}) {
    this.#options = { ...DEFAULTS, ...options };
    this.#url = url;
    if (this.#options.retries > 0) this.#dedupeKey = randomKey();
    if (this.#options.autoConnect) queueMicrotask(() => this.connect());
  }

  /** Whether the server has accepted this client and the connection is up. */
  get connected() { return this.#phase === "connected"; }
  /** Whether the client is connected or will keep trying without being told. */
  get active() { return this.#phase !== "idle"; }
  /** Emits that only go out while connected (dropped otherwise), e.g. "typing". */
  get volatile() {
    return { emit: (event, data) => { if (this.connected) this.emit(event, data); return this; } };
  }

  // MARK: handlers

  /** Calls `handler(data, ack)` for every `event` (`ack` is a function when the server asked for one). */
  on(event, handler) {
    if (!this.#handlers.has(event)) this.#handlers.set(event, []);
    this.#handlers.get(event).push({ handler, once: false });
    return this;
  }

  /** Like `on`, for the next `event` only. */
  once(event, handler) {
    if (!this.#handlers.has(event)) this.#handlers.set(event, []);
    this.#handlers.get(event).push({ handler, once: true });
    return this;
  }

  /** Removes `handler` from `event`, or every handler of `event`, or every handler. */
  off(event, handler) {
    if (event === undefined) this.#handlers.clear();
    else if (handler === undefined) this.#handlers.delete(event);
    else this.#handlers.set(event, (this.#handlers.get(event) ?? []).filter((entry) => entry.handler !== handler));
    return this;
  }

  /** Calls `handler(event, data)` for every event from the server, before its own handlers. */
  onAny(handler) { this.#anyHandlers.push(handler); return this; }
  /** Removes `handler`, or every onAny handler. */
  offAny(handler) {
    this.#anyHandlers = handler === undefined ? [] : this.#anyHandlers.filter((entry) => entry !== handler);
    return this;
  }

  /** Calls the handlers of `event`; returns whether there was one. */
  #fire(event, ...args) {
    const entries = this.#handlers.get(event);
    if (!entries || entries.length === 0) return false;
    this.#handlers.set(event, entries.filter((entry) => !entry.once));
    for (const entry of entries) {
      try { entry.handler(...args); } catch (error) { reportError(error); }
    }
    return true;
  }

  // MARK: emitting

  /** Sends `event` with `data`; kept in the offline buffer (sent on connection) when offline. */
  emit(event, data) {
    checkEventName(event);
    if (this.connected) this.#send({ event, data });
    else this.#bufferEmit({ event, data });
    return this;
  }

  /**
   * Sends `event` and resolves with the server's acknowledgement data; rejects with an Error
   * when the server answers with an error, when no answer comes within `timeout` ms, or when
   * the connection is lost first. While offline it waits in the buffer (never sent late).
   */
  emitWithAck(event, data, { timeout = this.#options.ackTimeout } = {}) {
    checkEventName(event);
    return new Promise((resolve, reject) => {
      const ack = { resolve, reject, timer: null };
      // `id` is given once and kept across re-sends (the server deduplicates by it).
      const entry = { event, data, ack, id: undefined, retriesLeft: this.#options.retries };
      ack.entry = entry;
      const expire = () => {
        if (entry.retriesLeft > 0) {
          // `retries`: the timeout applies to each try.
          entry.retriesLeft -= 1;
          if (this.connected && this.#pending.get(entry.id) === ack) this.#send({ event, data, id: entry.id });
          ack.timer = setTimeout(expire, timeout);
          return;
        }
        this.#buffer = this.#buffer.filter((buffered) => buffered !== entry);
        for (const [id, waiting] of this.#pending) if (waiting === ack) this.#pending.delete(id);
        reject(new Error(`no acknowledgement for '${event}' within ${timeout} ms`));
      };
      ack.timer = setTimeout(expire, timeout);
      if (this.connected) this.#sendWithAck(entry);
      else this.#bufferEmit(entry);
    });
  }

  #bufferEmit(entry) {
    this.#buffer.push(entry);
    // Bytes of each entry's envelope (UTF-8), measured once; the newest entry always stays.
    let bytes = 0;
    for (const buffered of this.#buffer) bytes += (buffered.bytes ??= envelopeBytes(buffered));
    while (this.#buffer.length > this.#options.bufferLimit
           || (this.#buffer.length > 1 && bytes > this.#options.bufferByteLimit)) {
      const dropped = this.#buffer.shift();
      bytes -= dropped.bytes;
      if (dropped.ack) settle(dropped.ack, null, new Error("dropped from the full offline buffer"));
    }
  }

  #sendWithAck(entry) {
    if (entry.id === undefined) entry.id = this.#nextId++;
    this.#pending.set(entry.id, entry.ack);
    this.#send({ event: entry.event, data: entry.data, id: entry.id });
  }

  #send(envelope) {
    this.#ws.send(JSON.stringify(envelope));
  }

  // MARK: connection

  /** Connects, unless connected or already trying. */
  connect() {
    if (this.#phase !== "idle") return this;
    this.#attempt = 0;
    this.#open();
    return this;
  }

  /** Disconnects and stops trying (`disconnect` with "io client disconnect" if connected). */
  disconnect() {
    const wasConnected = this.connected;
    this.#toIdle();
    this.#token = undefined;   // the server keeps no session after a disconnection on purpose
    this.#offset = undefined;
    if (wasConnected) {
      this.#failSentAcks();
      this.#fire("disconnect", "io client disconnect");
    }
    return this;
  }

  async #open() {
    this.#phase = "connecting";
    const generation = ++this.#generation;
    this.#setTimer(this.#options.timeout, () => this.#failed("timeout"));
    const query = { ...this.#options.query };
    const auth = this.#options.auth;
    if (auth !== undefined) {
      try {
        Object.assign(query, typeof auth === "function" ? await auth() : auth);
      } catch (error) {
        if (generation === this.#generation) this.#failed(`auth failed: ${error?.message ?? error}`);
        return;
      }
      if (generation !== this.#generation || this.#phase !== "connecting") return;  // given up meanwhile
    }
    if (this.#token !== undefined && this.#offset !== undefined) {
      query.recoveryToken = this.#token;
      query.recoveryOffset = this.#offset;
    }
    if (this.#dedupeKey !== undefined) query.dedupeKey = this.#dedupeKey;
    let ws;
    try {
      ws = new WebSocket(webSocketURL(this.#url, query, this.#options.namespace));
    } catch (error) {
      this.#clearTimer();
      this.#phase = "idle";  // an invalid URL will not become valid
      this.#fire("connect_error", Object.assign(new Error(error.message), { data: undefined }));
      return;
    }
    this.#ws = ws;
    ws.onmessage = (message) => { if (ws === this.#ws) this.#receive(message.data); };
    ws.onclose = (close) => { if (ws === this.#ws) this.#closed(close.code, close.reason); };
  }

  #receive(text) {
    this.#lastHeard = Date.now();
    let envelope;
    try { envelope = JSON.parse(text); } catch { return; }
    if (envelope === null || typeof envelope !== "object") return;
    if ("ack" in envelope) {
      const ack = this.#pending.get(envelope.ack);
      this.#pending.delete(envelope.ack);
      if (ack) settle(ack, envelope.data, envelope.error ? new Error(envelope.error.message) : null);
      return;
    }
    const { event, data, id, offset } = envelope;
    if (typeof event !== "string") return;
    if (this.#phase === "connecting") {
      if (event === "connect") this.#accepted(data ?? {}, offset);
      else if (event === "connect_error") this.#refused(data ?? {});
      return;
    }
    if (this.#phase !== "connected") return;
    if (event === "disconnect") return this.#serverDisconnected();
    if (CONNECTION_EVENTS.has(event)) return;
    // Protocol.md 5.5: the last offset received is where a recovery resumes.
    if (typeof offset === "string") this.#offset = offset;
    const ack = id === undefined ? undefined : this.#ackFunction(id);
    for (const handler of this.#anyHandlers) {
      try { handler(event, data); } catch (error) { reportError(error); }
    }
    const handled = this.#fire(event, data, ack);
    if (!handled && ack && this.#anyHandlers.length === 0) ack.fail(`no handler for event '${event}'`);
  }

  /** The function a handler calls to answer an event that asked for an acknowledgement. */
  #ackFunction(id) {
    let answered = false;
    const ws = this.#ws;
    const answer = (envelope) => {
      if (answered || ws !== this.#ws || !this.connected) return;
      answered = true;
      ws.send(JSON.stringify(envelope));
    };
    const ack = (data) => answer(data === undefined ? { ack: id } : { ack: id, data });
    ack.fail = (message) => answer({ ack: id, error: { message: String(message) } });
    return ack;
  }

  #accepted(data, offset) {
    this.#clearTimer();
    this.#phase = "connected";
    this.id = data.id;
    this.#token = typeof data.token === "string" ? data.token : undefined;
    this.recovered = data.recovered === true;
    this.recoveryFailure = typeof data.reason === "string" ? data.reason : undefined;
    // A recovered session continues from the client's own offset.
    if (!this.recovered) this.#offset = typeof offset === "string" ? offset : undefined;
    this.pingInterval = data.pingInterval ?? 0;
    this.pingTimeout = data.pingTimeout ?? 0;
    const attempt = this.#attempt;
    this.#attempt = 0;
    // Socket.IO's order: `reconnect` when the transport is back, then the buffer, then `connect`.
    if (attempt > 0) this.#fire("reconnect", attempt);
    const buffered = this.#buffer;
    this.#buffer = [];
    for (const entry of buffered) {
      if (entry.ack) this.#sendWithAck(entry); else this.#send(entry);
    }
    this.#startLiveness();
    this.#fire("connect");
  }

  /** Protocol.md 5.2: the same credentials would be refused again, so no retry. */
  #refused(data) {
    this.#toIdle();
    this.#fire("connect_error", Object.assign(new Error(String(data.message ?? "refused")), { data: data.data }));
  }

  /** Protocol.md 5.3: the server disconnected this client on purpose; no reconnection. */
  #serverDisconnected() {
    this.#toIdle();
    this.#failSentAcks();
    this.#fire("disconnect", "io server disconnect");
  }

  #closed(code, reason) {
    if (this.#phase === "connecting") return this.#failed(`closed before connect (${code}${reason ? " " + reason : ""})`);
    if (this.#phase === "connected") this.#lost([1002, 1003, 1007, 1009].includes(code) ? "transport error" : "transport close");
  }

  /** An attempt failed (could not open, closed early, or timed out). */
  #failed(message) {
    this.#dropTransport();
    const error = Object.assign(new Error(message), { data: undefined });
    this.#fire("connect_error", error);
    if (this.#attempt > 0) this.#fire("reconnect_error", error);
    this.#retry();
  }

  /** An established connection ended without the application or the server asking. */
  #lost(reason) {
    this.#dropTransport();
    this.#phase = "waiting";
    this.#failSentAcks();
    this.#fire("disconnect", reason);
    if (this.#phase === "waiting") this.#retry();  // a handler may have called disconnect()
  }

  #retry() {
    const options = this.#options;
    if (!options.reconnection) return this.#toIdle();
    if (this.#attempt >= options.reconnectionAttempts) {
      this.#toIdle();
      return this.#fire("reconnect_failed");
    }
    const delay = backoffDelay(this.#attempt, options);
    this.#attempt += 1;
    this.#phase = "waiting";
    this.#setTimer(delay, () => {
      this.#fire("reconnect_attempt", this.#attempt);
      if (this.#phase === "waiting") this.#open();
    });
  }

  // MARK: liveness (Protocol.md 5.4)

  #startLiveness() {
    if (!(this.pingInterval > 0)) return;
    this.#heartbeatSentAt = 0;
    this.#checkLiveness();
  }

  /**
   * After `pingInterval` without a message, asks the server for a heartbeat; when nothing at
   * all arrives within `pingTimeout` of the request, the connection is dead. Only a request
   * that went unanswered counts: a timer that a background tab delayed cannot fake a timeout.
   */
  #checkLiveness() {
    clearTimeout(this.#livenessTimer);
    if (!this.connected) return;
    const now = Date.now();
    if (this.#heartbeatSentAt > this.#lastHeard) {
      const waited = now - this.#heartbeatSentAt;
      if (waited >= this.pingTimeout) {
        this.#lost("ping timeout");
        return;
      }
      this.#livenessTimer = setTimeout(() => this.#checkLiveness(), this.pingTimeout - waited);
      return;
    }
    const silence = now - this.#lastHeard;
    if (silence >= this.pingInterval) {
      this.#heartbeatSentAt = now;
      this.#send({ event: "heartbeat", id: this.#nextId++ });
      this.#livenessTimer = setTimeout(() => this.#checkLiveness(), this.pingTimeout);
      return;
    }
    this.#livenessTimer = setTimeout(() => this.#checkLiveness(), this.pingInterval - silence);
  }

  // MARK: helpers

  #toIdle() {
    this.#dropTransport();
    this.#phase = "idle";
    this.#attempt = 0;
  }

  /** Forgets the current WebSocket (closing it, 1000) and its timers. */
  #dropTransport() {
    this.#generation += 1;
    this.#clearTimer();
    clearTimeout(this.#livenessTimer);
    this.id = undefined;
    const ws = this.#ws;
    this.#ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) {
      try { ws.close(1000); } catch { /* already closing */ }
    }
  }

  /**
   * Acknowledgements of emits sent on a lost connection can never come; emits with a retry
   * left count one and go back to the front of the buffer, in order, sent again on connection.
   */
  #failSentAcks() {
    const pending = this.#pending;
    this.#pending = new Map();
    const again = [];
    for (const ack of pending.values()) {
      if (ack.entry && ack.entry.retriesLeft > 0) {
        ack.entry.retriesLeft -= 1;
        again.push(ack.entry);
      } else {
        settle(ack, null, new Error("disconnected before the acknowledgement"));
      }
    }
    again.sort((a, b) => a.id - b.id);
    this.#buffer.unshift(...again);
  }

  #setTimer(delay, action) {
    this.#clearTimer();
    this.#timer = setTimeout(() => { this.#timer = null; action(); }, delay);
  }

  #clearTimer() {
    clearTimeout(this.#timer);
    this.#timer = null;
  }
}

/** 128 random bits as 32 hexadecimal digits. */
function randomKey() {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function settle(ack, data, error) {
  clearTimeout(ack.timer);
  if (error) ack.reject(error); else ack.resolve(data);
}

/** UTF-8 bytes of an entry's envelope, as sent (for the offline buffer's byte limit). */
function envelopeBytes(entry) {
  return new TextEncoder().encode(JSON.stringify({ event: entry.event, data: entry.data })).length;
}

function checkEventName(event) {
  if (typeof event !== "string") throw new TypeError("an event name is a string");
  if (RESERVED.has(event)) throw new Error(`'${event}' is a reserved event name`);
}

/** A handler's exception is reported, not allowed to break the client. */
function reportError(error) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else console.error(error);
}
