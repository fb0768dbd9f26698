import ParleyProtocol
import ParleyWebSocket

extension Client {
    /// How a client connects, reconnects and buffers. The defaults are Socket.IO's where it has
    /// one; each is explained where it is declared.
    ///
    /// ```swift
    /// var options = Client.Options()
    /// options.query = ["token": "secret"]
    /// options.reconnectionAttempts = 10
    /// let client = Client(url: "ws://localhost:8887/parley", options: options)
    /// ```
    public struct Options: Sendable {
        /// Query parameters added to the URL, e.g. `["token": "secret"]`: the server's middleware
        /// reads them as `handshake.query`. Empty, as Socket.IO. The query is the usual place for
        /// a token because browsers cannot set headers on a WebSocket.
        public var query: [String: String] = [:]
        /// Extra headers of the opening request, e.g. `Authorization` (`handshake.headers` on the
        /// server). Empty, as Socket.IO's `extraHeaders`.
        public var headers: [(name: String, value: String)] = []
        /// The namespace to join, sent as the query parameter `nsp` (Protocol.md 5.1). `/`, the
        /// main namespace, as Socket.IO.
        public var namespace = "/"
        /// Reconnect after an unexpected disconnection (transport lost, server shutdown, ping
        /// silence). True, as Socket.IO: networks drop and servers restart, and an app that wants
        /// to stay connected should not have to write that loop itself.
        public var reconnection = true
        /// Reconnection attempts before giving up with `reconnect_failed`. `Int.max`, unlimited,
        /// as Socket.IO (`Infinity`): a client should outlive any outage, and the backoff keeps
        /// an endless retry cheap (one attempt per `reconnectionDelayMax` at most).
        public var reconnectionAttempts = Int.max
        /// Delay before the first reconnection attempt, doubled on each further one. 1 s, as
        /// Socket.IO: a blip goes unnoticed, a restarting server is not hammered.
        public var reconnectionDelay: Duration = .seconds(1)
        /// The longest delay between attempts. 5 s, as Socket.IO: a server that is back is found
        /// within seconds, and a thousand waiting clients cost it 200 attempts a second at most.
        public var reconnectionDelayMax: Duration = .seconds(5)
        /// Each delay moves randomly by up to ± this fraction (0...1). 0.5, as Socket.IO: the
        /// clients of a restarting server come back spread over time, not all in the same
        /// millisecond.
        public var randomizationFactor = 0.5
        /// The opening handshake and the server's `connect` must both arrive within this, or the
        /// attempt fails (`connect_error` "timeout"). 20 s, as Socket.IO: a slow mobile network
        /// still connects, and the server's middleware has its own 10 s limit inside it.
        public var timeout: Duration = .seconds(20)
        /// How long `emitWithAck` waits when the call gives no timeout. Socket.IO waits for ever
        /// by default; 10 s here, because an answer that never comes must not hold a caller for
        /// ever, and 10 s covers a reconnection at the longest default delay (5 s) plus a round
        /// trip, so an emit made as the connection drops can still be answered.
        public var ackTimeout: Duration = .seconds(10)
        /// Emits kept while disconnected (flushed in order on reconnection). Socket.IO keeps any
        /// number; 1,000 here: minutes of a chatty app offline, and a bound on memory. When full,
        /// the oldest are dropped (see ``Client/EmitResult``).
        public var bufferLimit = 1_000
        /// Bytes of encoded emits kept while disconnected. 1 MiB: one maximum-size message (the
        /// server's default limit is 1 MB), or a thousand small ones, and no more memory than
        /// that per client however long the outage. When full, the oldest are dropped.
        public var bufferByteLimit = 1 << 20
        /// Connect as soon as the client is created. True, as Socket.IO. Events that happen before
        /// a handler is set are not replayed: to be sure to see the first `connect`, set this to
        /// false, set the handlers, then call ``Client/connect()``.
        public var autoConnect = true
        /// Credentials computed for each connection attempt, first and reconnections alike:
        /// the pairs it returns join ``query`` (and win over it) on that attempt's URL, so a
        /// token that expires is fetched again before each attempt. An error fails that attempt
        /// (`connect_error` with the error's description), retried as a lost connection is.
        /// nil by default: ``query`` alone.
        ///
        /// ```swift
        /// options.auth = { ["token": try await tokenService.fresh()] }
        /// ```
        public var auth: (@Sendable () async throws -> [String: String])?
        /// How many times an `emitWithAck` is sent again before it fails: when its connection
        /// is lost (sent again first thing on the next connection, in order) and when no answer
        /// comes within the ack timeout, which then applies to each try. 0 by default, as
        /// Socket.IO: each emit is sent once. With retries the client sends a deduplication key
        /// (Protocol.md 5.6): a server with connection state recovery runs the handler of a
        /// re-sent emit once and answers the copies with the same answer.
        public var retries = 0
        /// The event loops the connection runs on. The shared one-thread group: one loop serves
        /// thousands of client connections, and costs a single thread per process.
        public var group: EventLoopGroup = .shared

        /// Where the client writes what happens to its connection: ``ParleyLogger/standardError``
        /// at level `info` by default, which shows only trouble (`reconnect_failed` is a warning);
        /// `.debug` adds a line per `connect`, `disconnect`, `connect_error` and reconnection
        /// attempt. ``ParleyLogger/disabled`` writes nothing.
        public var logger: ParleyLogger = .standardError

        /// TLS of `wss://` URLs: which CAs to trust (``TLSConfiguration/trust``), a client
        /// certificate for mutual TLS, or, for local development only, no verification. nil by
        /// default, which is `TLSConfiguration()`: the server's certificate must chain to the
        /// system's CAs and name the URL's host (checked as sent in SNI), TLS 1.2 at least. A
        /// refused certificate is a `connect_error` / `reconnect_error` with the reason, and the
        /// client retries with its usual backoff. Unused for `ws://`.
        public var tls: TLSConfiguration?

        // MARK: Socket.IO

        /// The protocol spoken: ``Client/Dialect/parley`` (Parley's envelope, the default: a Parley
        /// server's own endpoint) or ``Client/Dialect/socketIO`` (Socket.IO v5 over Engine.IO v4's
        /// WebSocket transport, for any Socket.IO server: Node, Python, or a Parley server's
        /// `/socket.io/`).
        public var `protocol` = Dialect.parley
        /// The `auth` payload of the Socket.IO `CONNECT` packet (a JSON object; the server reads it as
        /// `socket.handshake.auth`), e.g. `try RawJSON(encoding: ["token": "secret"])`. Sent again
        /// on every reconnection. nil, as Socket.IO: no payload. Only with ``Client/Dialect/socketIO``;
        /// envelope servers read ``query``.
        public var socketIOAuth: RawJSON?

        /// Called after a transport's socket is closed and its descriptor released (tests await it).
        var transportClosedHook: (@Sendable () -> Void)?

        public init() {}
    }
}
