extension Server {
    /// Connection state recovery: a client that loses its connection and comes back within
    /// ``maxDisconnectionDuration`` gets the same socket id, its rooms and `socket.data` back,
    /// then every event it missed, in order and once, then live events (Socket.IO 4.6's
    /// `connectionStateRecovery`; Protocol.md 5.5).
    ///
    /// ```swift
    /// var configuration = Server.Configuration(port: 8887)
    /// configuration.connectionStateRecovery = .init()          // the defaults below
    /// let io = Server(configuration)
    /// io.onConnection { socket in
    ///     if socket.recovered { return }                       // rooms and data are back
    ///     socket.join("lobby")
    /// }
    /// ```
    ///
    /// While on, every event a namespace sends through `emit`, a room, `broadcast`, `to(...)`
    /// or `socket.emit` is kept in that namespace's packet log and carries its position there,
    /// the `offset`. Volatile emits, acknowledgements and events that ask for one
    /// (`emitWithAck`) are neither kept nor numbered. The log is bounded by ``maxPackets``,
    /// ``maxBytes`` and ``maxDisconnectionDuration``, whichever is reached first.
    public struct ConnectionStateRecovery: Sendable {
        /// How long after losing its connection a client may still recover. 2 minutes, as
        /// Socket.IO: a train tunnel or a phone switching networks, not a night away. Events
        /// older than this are dropped from the log, since no session can ask for them.
        public var maxDisconnectionDuration: Duration = .seconds(120)
        /// Whether a recovered client skips the connection middleware. True, as Socket.IO: the
        /// client was accepted moments ago and its session (with what middleware put in
        /// `socket.data`) is restored as it was; set false to check a token again on every
        /// reconnection (middleware then sees the restored `handshake.data`).
        public var skipMiddlewares = true
        /// Most events kept per namespace. 10,000: a namespace broadcasting 80 events a second
        /// keeps the whole default window; beyond that, clients away for the whole window get a
        /// fresh session (`packets no longer kept`) rather than the log growing without bound.
        public var maxPackets = 10_000
        /// Most bytes of encoded events kept per namespace. 16 MiB: 10,000 events of 1.6 KB, a
        /// bound on memory whatever the events' size (one 1 MB event takes 1 MB of it).
        public var maxBytes = 16 << 20
        /// Most disconnected sessions kept per namespace, waiting for their client. 100,000:
        /// ten times the default client limit, so even every client of a server dropping at once
        /// can recover, while a flood of short connections cannot grow memory without bound
        /// (the oldest sessions go first).
        public var maxSessions = 100_000
        /// Whether events a client sends with an acknowledgement id are deduplicated when the
        /// client sends a `dedupeKey` (Protocol.md 5.6): a re-sent event (the Swift client's and
        /// `parley.js`'s `retries`) is answered again with the answer already given, and its
        /// handler is not run twice. True: a client asks for it explicitly.
        public var deduplicateRetries = true
        /// Answers remembered per client for deduplication. 1,024, the number of
        /// acknowledgements a Parley client may await at once.
        public var maxRememberedAnswers = 1_024
        /// Bytes of answers remembered per client for deduplication. 1 MiB: one large answer or
        /// a thousand small ones; beyond, the oldest are forgotten (a re-sent event whose answer
        /// was forgotten runs its handler again).
        public var maxRememberedAnswerBytes = 1 << 20

        /// How long a node waits for a ``ClusterRecoveryStore`` (Redis) to hand over the session
        /// of a client coming back from another node before giving it a fresh session (`recovery
        /// unavailable`): the connecting client gets nothing meanwhile. 2 s: Redis answers in
        /// milliseconds, and a session whose loss its node has not noticed yet is asked for
        /// again for up to 0.7 s; longer means the store is unreachable.
        public var clusterLookupTimeout: Duration = .seconds(2)

        /// The defaults, each explained where declared.
        public init() {}
    }
}
