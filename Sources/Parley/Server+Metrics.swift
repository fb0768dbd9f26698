import ParleyWebSocket

extension Server {
    /// What a server has done since it started, as an operator graphs it: connections,
    /// refusals by cause, messages and bytes each way, sends dropped for slow consumers,
    /// acknowledgements awaited, and the cluster adapter's health.
    ///
    /// Read it in code with ``Server/metrics``, or let Prometheus scrape it: set
    /// ``Configuration/metricsPath`` and the server answers GET there with ``prometheusText``.
    ///
    /// ```swift
    /// let metrics = io.metrics
    /// print("\(metrics.connectionsOpen) open, \(metrics.refusals[.origin, default: 0]) refused for their origin")
    /// ```
    ///
    /// Counters only grow; ``connectionsOpen``, ``sockets``, ``pendingAcks`` and the cluster's
    /// state are gauges. A snapshot taken while traffic flows may be a few messages apart
    /// between fields (each event loop counts on its own, and the sum is read field by field).
    public struct Metrics: Sendable, Equatable {
        /// Why a connection was refused: the HTTP status it got, or the Parley step that said no.
        /// A struct, so that causes can be added without breaking a `switch`.
        public struct RefusalCause: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
            /// The Prometheus label value, e.g. `origin`.
            public let rawValue: String
            public init(rawValue: String) { self.rawValue = rawValue }

            /// HTTP 400: a malformed request head or WebSocket handshake.
            public static let badRequest = RefusalCause(rawValue: "bad_request")
            /// HTTP 403: an `Origin` not in ``Configuration/origins``.
            public static let origin = RefusalCause(rawValue: "origin")
            /// HTTP 404: a path with neither the WebSocket nor a route.
            public static let notFound = RefusalCause(rawValue: "not_found")
            /// HTTP 401: the admin page without its token.
            public static let unauthorized = RefusalCause(rawValue: "unauthorized")
            /// HTTP 405: a method other than GET (or HEAD for a route).
            public static let method = RefusalCause(rawValue: "method")
            /// HTTP 426: not a WebSocket upgrade, or a WebSocket version other than 13.
            public static let upgradeRequired = RefusalCause(rawValue: "upgrade_required")
            /// HTTP 431: a request head over the limit.
            public static let headerTooLarge = RefusalCause(rawValue: "header_too_large")
            /// HTTP 503: ``Configuration/maxClients`` connected already.
            public static let full = RefusalCause(rawValue: "full")
            /// No complete request head within ``Configuration/handshakeTimeout``: dropped unanswered.
            public static let handshakeTimeout = RefusalCause(rawValue: "handshake_timeout")
            /// Connection middleware threw: the client got `connect_error`.
            public static let middleware = RefusalCause(rawValue: "middleware")
            /// The client asked for a namespace the server does not have.
            public static let namespace = RefusalCause(rawValue: "namespace")
            /// Any other HTTP error status.
            public static let other = RefusalCause(rawValue: "other")

            /// Every cause, in the order the Prometheus text lists them.
            public static let all: [RefusalCause] = [
                .badRequest, .unauthorized, .origin, .notFound, .method, .upgradeRequired, .headerTooLarge, .full,
                .handshakeTimeout, .middleware, .namespace, .other,
            ]

            /// The cause of an HTTP refusal with `status`.
            static func http(_ status: Int) -> RefusalCause {
                switch status {
                case 400: .badRequest
                case 401: .unauthorized
                case 403: .origin
                case 404: .notFound
                case 405: .method
                case 426: .upgradeRequired
                case 431: .headerTooLarge
                case 503: .full
                default: .other
                }
            }

            public var description: String { rawValue }
        }

        /// The state of the cluster adapter, for a server that shares broadcasts with others.
        public struct Cluster: Sendable, Equatable {
            /// The engine, e.g. `redis`.
            public var kind: String
            /// Whether the adapter's connections are up now.
            public var connected: Bool
            /// Broadcasts and operations not published to the other nodes (engine down, its
            /// buffer full, or unanswered when the connection to it was lost) since start.
            /// Local delivery went on.
            public var publishesDropped: Int
            /// Kept events and room operations of other nodes (and of this one) that never
            /// reached this node since start, with connection state recovery across nodes:
            /// trimmed from the ordered log before this node read them (a burst larger than
            /// `maxPackets`), or lost on their way to the engine. Its clients missed them.
            public var entriesMissed: Int

            /// - Parameter entriesMissed: 0 for an adapter without an ordered log.
            public init(kind: String, connected: Bool, publishesDropped: Int, entriesMissed: Int = 0) {
                self.kind = kind
                self.connected = connected
                self.publishesDropped = publishesDropped
                self.entriesMissed = entriesMissed
            }
        }

        /// WebSocket connections open now, every namespace together (and clients still in middleware).
        public var connectionsOpen = 0
        /// WebSocket upgrades accepted since start.
        public var connectionsAccepted = 0
        /// Connections and requests refused since start, by cause.
        public var refusals: [RefusalCause: Int] = [:]
        /// Connected sockets by namespace, e.g. `["/": 120, "/admin": 2]`.
        public var sockets: [String: Int] = [:]
        /// Messages received from clients (data frames: events, acks).
        public var messagesReceived = 0
        /// Messages queued for clients; a broadcast counts once per recipient.
        public var messagesSent = 0
        /// Bytes read from clients, WebSocket framing included.
        public var bytesReceived = 0
        /// Bytes written to clients, WebSocket framing and handshake responses included.
        public var bytesSent = 0
        /// Volatile emits skipped because their recipient was not keeping up.
        public var volatileDropped = 0
        /// Clients disconnected (1008 "send queue full") because they did not read fast enough.
        public var sendQueueFullCloses = 0
        /// Acknowledgements the server awaits from clients now (`emitWithAck`).
        public var pendingAcks = 0
        /// Times accepting paused because the process had no descriptor left.
        public var acceptPauses = 0
        /// The cluster adapter's state (``ClusterAdapter/status``); nil for a single node.
        public var cluster: Cluster?

        public init() {}
    }

    /// The server's counters now. Costs a few atomic loads per event loop, plus one lock per
    /// connected socket for ``Metrics/pendingAcks``: cheap enough to read every second.
    public var metrics: Metrics {
        let transport = webSocketServer.metrics
        var metrics = Metrics()
        metrics.connectionsOpen = transport.connectionsOpen
        metrics.connectionsAccepted = transport.connectionsAccepted
        for (status, count) in transport.refusals where count > 0 {
            metrics.refusals[status == 0 ? .other : .http(status), default: 0] += count
        }
        metrics.refusals[.handshakeTimeout, default: 0] += transport.handshakeTimeouts
        metrics.refusals[.middleware, default: 0] += router.counters.middleware
        metrics.refusals[.namespace, default: 0] += router.counters.namespace
        metrics.messagesReceived = transport.messagesReceived
        metrics.messagesSent = transport.messagesSent
        metrics.bytesReceived = transport.bytesReceived
        metrics.bytesSent = transport.bytesSent
        metrics.volatileDropped = transport.volatileDropped
        metrics.sendQueueFullCloses = transport.sendQueueFullCloses
        metrics.acceptPauses = transport.acceptPauses
        for namespace in router.namespaces.withLock({ Array($0.values) }) {
            let sockets = namespace.fetchSockets()
            metrics.sockets[namespace.name] = sockets.count
            for socket in sockets { metrics.pendingAcks += socket.pendingAckCount }
        }
        if let cluster = router.cluster {
            metrics.cluster = cluster.status
        }
        return metrics
    }
}
