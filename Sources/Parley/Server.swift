import Foundation
import ParleyProtocol
import ParleyWebSocket
import Synchronization

/// A Parley server: namespaces of sockets speaking the JSON envelope of Protocol.md over
/// WebSocket, with acknowledgements, rooms, broadcast and connection middleware.
///
/// ```swift
/// let io = Server(.init(port: 8887, path: "/parley"))
/// io.use { handshake in
///     guard handshake.query("token", matchesSecret: "secret") else { throw ConnectError("unauthorized") }
/// }
/// io.onConnection { socket in
///     socket.on("chat") { (message: String) in try socket.broadcast.emit("chat", message) }
///     socket.on("whoami") { (ack: Ack) in ack(socket.id) }
/// }
/// try await io.run()
/// ```
public final class Server: Sendable {
    /// Where the server listens and its limits. Every default is explained where it is declared.
    public struct Configuration: Sendable {
        /// Address to bind. Default loopback: exposing a server is a decision.
        public var host = "127.0.0.1"
        /// TCP port; 0 picks a free one (see ``Server/port``).
        public var port = 8887
        /// The WebSocket path. `/parley`, so the same origin can serve pages on other paths.
        public var path = "/parley"
        /// Allowed `Origin` values (others get HTTP 403); `*` allows every origin. Requests
        /// without `Origin` (non-browser clients) are allowed.
        public var origins = ["*"]
        /// Most clients at once; more get HTTP 503. 10,000: see ``WebSocketServer/Configuration/maxClients``.
        public var maxClients = 10_000
        /// How often the server pings each client; nil disables pings. 25 s, as Socket.IO.
        public var pingInterval: Duration? = .seconds(25)
        /// How long a client has to answer a ping before it is dropped. 20 s, as Socket.IO.
        public var pingTimeout: Duration = .seconds(20)
        /// Largest message accepted (close 1009 beyond), in bytes: 1,000,000 (1 MB), Socket.IO's
        /// `maxHttpBufferSize`.
        public var maxPayload = 1_000_000
        /// The server-wide budget for client data held in memory: partial frames, fragments of
        /// messages being assembled and send queues of every connection, summed. Over it, the
        /// connections holding the most are closed with 1013 ("Try Again Later") until the sum
        /// is back under it; the others keep being served. Default: a quarter of physical
        /// memory, at most 1 GiB (see ``WebSocketServer/Configuration/maxBufferedBytes``).
        public var maxBufferedBytes = WebSocketServer.Configuration().maxBufferedBytes
        /// Most opening handshakes in progress at once (connections whose request head is not
        /// complete); over it, a new connection gets HTTP 503 at once. 1,000: see
        /// ``WebSocketServer/Configuration/maxHandshakes``.
        public var maxHandshakes = 1_000
        /// Most opening handshakes in progress from one address (HTTP 503 beyond). 32: see
        /// ``WebSocketServer/Configuration/maxHandshakesPerAddress``.
        public var maxHandshakesPerAddress = 32
        /// WebSocket subprotocols the server accepts in `Sec-WebSocket-Protocol`, in order of
        /// preference: the first of them the client offers is selected (Protocol.md 1.2). None by
        /// default: the envelope needs no subprotocol, and a client that offers some gets the
        /// connection without one (RFC 6455 4.2.2).
        public var subprotocols: [String] = []
        /// Longest room name `socket.join` accepts, in UTF-8 bytes (longer throws
        /// ``ParleyError/roomNameTooLong(limit:)``). 256: room names are identifiers; a bound
        /// keeps a client that picks its rooms from filling memory with huge names.
        public var maxRoomNameBytes = 256
        /// Most rooms one socket may be in, besides its own id room (more throws
        /// ``ParleyError/tooManyRooms(limit:)``). 1,000: far more than a chat or a dashboard
        /// uses, while 10,000 clients at the limit hold a few GB at most with 256-byte names.
        public var maxRoomsPerSocket = 1_000
        /// The per-address limit on refused connections (middleware refusals, invalid
        /// namespaces, refused upgrade requests): over it, upgrades from that address get `429`
        /// with `Retry-After` before any WebSocket work. nil turns it off. On by default, 20
        /// refusals per 10 s: a person mistyping never reaches it, a token-guessing script
        /// does at once (see ``RefusalLimiter/Limit``).
        public var refusalLimit: RefusalLimiter.Limit? = RefusalLimiter.Limit()
        /// The HTTP upgrade request must arrive within this. 10 s (slowloris).
        public var handshakeTimeout: Duration = .seconds(10)
        /// How long a persistent HTTP connection (Socket.IO polling, preflights, `parley.js`,
        /// metrics) may wait for its next request before it is closed; nil closes every
        /// connection after its answer. 5 s, Node's `keepAliveTimeout`: a polling client's next
        /// poll and post reuse their connections. See ``WebSocketServer/Configuration/keepAliveTimeout``.
        public var keepAliveTimeout: Duration? = .seconds(5)
        /// All middleware of one connection must finish within this, or the client gets
        /// `connect_error` "middleware timeout". 10 s: room for a token lookup elsewhere.
        public var middlewareTimeout: Duration = .seconds(10)
        /// Where the server writes what happens: ``ParleyLogger/standardError`` at level `info`
        /// by default (the listening line, shutdown, outages and other warnings; one line each).
        /// `.debug` adds a line per connect, disconnect and refusal; ``ParleyLogger/disabled``
        /// writes nothing; a sink of your own sends lines elsewhere (see ``ParleyLogger``).
        public var logger: ParleyLogger = .standardError
        /// Shorthand for the logger's level: true sets `.debug` (connects, disconnects and
        /// refusals are logged), false sets `.info`; reads true when the level is `.debug` or lower.
        public var verbose: Bool {
            get { logger.level <= .debug }
            set { logger.level = newValue ? .debug : .info }
        }
        /// Event loop threads. Default: one per core the process may run on (its CPU affinity,
        /// so `taskset` and container CPU sets count), the most throughput when the server has
        /// those cores to itself. Where other busy processes share the cores (a database, a load
        /// generator), fewer loops can be faster: a loop that waits for a core costs more per
        /// message than it adds (BENCHMARKS.md measures one loop against two on two shared cores).
        public var loopCount = EventLoopGroup.coreCount
        /// Plain HTTP resources served on GET and HEAD (e.g. a page and its script).
        public var routes: [String: HTTPResponse] = [:]
        /// Serve the browser client, `parley.js`, at `<path>/parley.js` (`/parley/parley.js` by
        /// default) with an `ETag` (revalidation gets `304`). On, as Socket.IO's `serveClient`:
        /// a page of the same server then needs nothing else, not even a CDN. A route of your own
        /// at that path wins.
        public var serveClient = true
        /// Where Socket.IO clients (Engine.IO v4, polling and WebSocket) connect; nil serves
        /// none. `/socket.io/`, Socket.IO's default `path`: stock clients connect unchanged.
        public var socketIOPath: String? = "/socket.io/"
        /// The engine that shares broadcasts and room operations with other servers, to run
        /// several nodes behind a load balancer: e.g. `RedisClusterAdapter(url:)` from the
        /// `ParleyRedisAdapter` product. nil (the default): one node, everything in this process,
        /// nothing to set up. One adapter instance per server.
        public var clusterAdapter: (any ClusterAdapter)?
        /// Where the server answers GET with its ``Server/Metrics`` in the Prometheus text
        /// format, e.g. `/metrics`. Nil, off, by default: counts of clients and traffic are for
        /// the operator, so exposing them is a decision (put it behind your proxy's access rules).
        public var metricsPath: String?
        /// The live admin dashboard at `<path>/admin`, behind a token; nil, off, by default.
        /// See ``Server/Configuration/Admin``.
        public var admin: Admin?
        /// Connection state recovery: a client whose connection drops gets its session (id,
        /// rooms, `data`) and the events it missed back when it reconnects in time. nil (off)
        /// by default, as Socket.IO: it keeps recent events in memory, a cost to choose. See
        /// ``ConnectionStateRecovery``. With a ``clusterAdapter`` that is a
        /// ``ClusterRecoveryStore`` (`RedisClusterAdapter`), sessions and events are shared by
        /// the nodes: a client recovers on any of them.
        public var connectionStateRecovery: ConnectionStateRecovery?
        /// Serve TLS on the same port: `wss://` for clients, `https://` for routes, `parley.js`
        /// and the Socket.IO endpoint (certificate chain and key, PEM files or bytes). nil by
        /// default: plain `ws://`, for loopback or behind a TLS-terminating proxy (see
        /// ``trustedProxies``). A renewed certificate is loaded by ``Server/reloadTLS()``.
        public var tls: TLSConfiguration?
        /// Addresses of the proxies in front of the server (`127.0.0.1`, `::1`, `10.0.0.5`...):
        /// for connections from these, `X-Forwarded-For` and `X-Forwarded-Proto` are believed,
        /// so ``Handshake/address`` and ``Handshake/secure`` are the real client's. Empty by
        /// default: any client can send those headers, so they mean nothing unless the peer is
        /// a proxy you run.
        public var trustedProxies: [String] = []

        public init(host: String = "127.0.0.1", port: Int = 8887, path: String = "/parley") {
            self.host = host
            self.port = port
            self.path = path
        }

        var webSocketConfiguration: WebSocketServer.Configuration {
            var configuration = WebSocketServer.Configuration(host: host, port: port, path: path)
            configuration.allowedOrigins = origins
            configuration.maxClients = maxClients
            configuration.maxBufferedBytes = maxBufferedBytes
            configuration.maxHandshakes = maxHandshakes
            configuration.maxHandshakesPerAddress = maxHandshakesPerAddress
            configuration.subprotocols = subprotocols
            configuration.handshakeTimeout = handshakeTimeout
            configuration.keepAliveTimeout = keepAliveTimeout
            configuration.refusalLimit = refusalLimit
            configuration.loopCount = loopCount
            configuration.routes = routes
            if serveClient && routes[Server.clientScriptPath(for: path)] == nil {
                configuration.routes[Server.clientScriptPath(for: path)] = Server.clientScript
            }
            configuration.logger = logger
            configuration.tls = tls
            configuration.webSocket.pingInterval = pingInterval
            configuration.webSocket.pingTimeout = pingTimeout
            configuration.webSocket.maxFrameSize = maxPayload
            configuration.webSocket.maxMessageSize = maxPayload
            configuration.webSocket.maxBufferedBytes = max(configuration.webSocket.maxBufferedBytes, 4 * maxPayload)
            return configuration
        }
    }

    /// Namespaces and server-wide middleware, shared with the connection callback.
    final class Router: Sendable {
        let configuration: Configuration
        let namespaces = Mutex<[String: Namespace]>([:])
        let middleware = Mutex<[Namespace.Middleware]>([])
        let log: @Sendable (@autoclosure () -> String) -> Void
        /// The main namespace, `/`.
        let main: Namespace
        /// Refusals and cluster drops (the transport's counters are the WebSocket server's).
        let counters: ServerCounters
        /// The admin dashboard's namespace, which server-wide middleware does not guard (its
        /// own token does).
        let adminNamespace: String?
        /// The cluster engine; nil for a single node.
        let cluster: (any ClusterAdapter)?
        /// Counts refusals toward ``Configuration/refusalLimit``: the WebSocket server, set once
        /// it exists (weak: it holds this router through its connection callback).
        let refusalCounter = Mutex(WeakServer())

        struct WeakServer {
            weak var server: WebSocketServer?
        }

        init(configuration: Configuration) {
            self.configuration = configuration
            adminNamespace = configuration.admin?.namespace
            let counters = ServerCounters()
            self.counters = counters
            let logger = configuration.logger
            let log: @Sendable (@autoclosure () -> String) -> Void = { message in logger.debug(message()) }
            self.log = log
            cluster = configuration.clusterAdapter
            if let recovery = configuration.connectionStateRecovery, let store = cluster as? any ClusterRecoveryStore {
                store.enableRecovery(keeping: recovery.maxPackets)
            }
            main = Namespace(name: "/", logger: logger, cluster: cluster, counters: counters, recovery: configuration.connectionStateRecovery)
            namespaces.withLock { $0["/"] = main }
            cluster?.register(namespace: "/")
        }

        func namespace(_ name: String, create: Bool) -> Namespace? {
            namespaces.withLock { namespaces in
                if let existing = namespaces[name] { return existing }
                guard create else { return nil }
                let created = Namespace(name: name, logger: configuration.logger, cluster: cluster, counters: counters, recovery: configuration.connectionStateRecovery)
                namespaces[name] = created
                cluster?.register(namespace: name)
                return created
            }
        }

        /// Applies an operation received from another node to this node's sockets.
        func apply(_ operation: ClusterOperation) {
            guard let namespace = namespace(operation.selection.namespace, create: false) else { return }
            BroadcastOperator(namespace: namespace, selection: operation.selection, flags: operation.flags)
                .applyLocally(operation.action)
        }

        /// What the cluster adapter gets at start: the first event loop, the way back here
        /// (weak: the adapter is this router's), and the server's logs.
        func clusterContext(loop: EventLoop) -> ClusterContext {
            let log = self.log
            let debug: (@Sendable (String) -> Void)? = configuration.verbose ? { @Sendable message in log(message) } : nil
            return ClusterContext(loop: loop, apply: { [weak self] operation in self?.apply(operation) }, debug: debug,
                                  applyOrdered: { [weak self] operation, offset in self?.applyOrdered(operation, offset: offset) },
                                  orderedLogStarted: { [weak self] namespace, offset in self?.orderedLogStarted(namespace: namespace, at: offset) })
        }

        /// Bounds on the rooms of each socket (``Configuration/maxRoomNameBytes``,
        /// ``Configuration/maxRoomsPerSocket``).
        var roomLimits: Socket.RoomLimits {
            Socket.RoomLimits(maxNameBytes: configuration.maxRoomNameBytes, maxRooms: configuration.maxRoomsPerSocket)
        }

        func recordRefusal(from address: String) {
            refusalCounter.withLock { $0.server }?.recordRefusal(from: address)
        }

        /// A new WebSocket connection (on its loop): pick the namespace, run middleware, accept.
        func connect(_ connection: WebSocket, _ request: HTTPRequestHead) {
            let client = clientOrigin(request, peer: connection.remoteAddress, secure: connection.isSecure)
            let handshake = Handshake(request: request, address: client.address, secure: client.secure)
            guard let namespace = namespace(handshake.namespace, create: false) else {
                counters.refusedNamespace()
                log("parley: refused \(handshake.address): invalid namespace \(handshake.namespace)")
                let data = RawJSON(unchecked: Array(#"{"message":"Invalid namespace"}"#.utf8))
                connection.send(textUTF8: EnvelopeCodec.encode(.event(name: "connect_error", data: data, id: nil)))
                connection.close(code: .policyViolation, reason: "Invalid namespace")
                recordRefusal(from: handshake.address)
                return
            }
            // With a cluster store the session is asked for first (the client waits meanwhile).
            if let recovery = namespace.recovery, recovery.store != nil, let token = handshake.recoveryToken {
                return connectAfterClusterClaim(connection, handshake: handshake, namespace: namespace, recovery: recovery, token: token)
            }
            connect(connection, handshake: handshake, namespace: namespace, claim: localRecoveryClaim(handshake, in: namespace))
        }

        /// Makes the socket of a new connection (with the outcome of its claim, if it asked for
        /// recovery), then runs middleware and accepts it.
        @discardableResult
        func connect(_ connection: WebSocket, handshake: Handshake, namespace: Namespace, claim: Result<RecoveryClaim, RecoveryFailure>?) -> Socket {
            let recovery = namespace.recovery.map { recovery in
                SocketRecovery(claim: claim, dedupeKey: recovery.settings.deduplicateRetries ? handshake.dedupeKey : nil)
            }
            let socket = Socket(link: .envelope(connection), handshake: handshake, namespace: namespace, roomLimits: roomLimits, recovery: recovery)
            connection.onMessageBytes { _, opcode, bytes in socket.receive(opcode, bytes) }
            connection.onClose { _, code, reason in socket.connectionClosed(code: code, reason: reason) }
            var skipMiddleware = false
            if let recovery, case .success(let claim)? = recovery.claim {
                handshake.data.restore(from: claim.session.data)
                skipMiddleware = namespace.recovery?.settings.skipMiddlewares == true
            }
            admit(socket, handshake: handshake, namespace: namespace, loop: connection.loop, skipMiddleware: skipMiddleware)
            return socket
        }

        /// Runs the middleware chain for a new socket, then accepts or refuses it on `loop`.
        /// - Parameter skipMiddleware: a recovered session that skips middleware (Protocol.md 5.5).
        func admit(_ socket: Socket, handshake: Handshake, namespace: Namespace, loop: EventLoop, skipMiddleware: Bool = false) {
            let chain = skipMiddleware ? [] : (namespace.name == adminNamespace ? [] : middleware.withLock { $0 }) + namespace.middleware
            let (interval, timeout) = (configuration.pingInterval, configuration.pingTimeout)
            guard !chain.isEmpty else {
                socket.accept(pingInterval: interval, pingTimeout: timeout)
                return
            }
            // One task per connection (not per message): middleware may await a lookup. The
            // deadline is a loop timer, not a task-group child: a middleware that ignores
            // cancellation cannot hold the refusal back. Whichever comes first settles it.
            let settled = Atomic<Bool>(false)
            // The deadline, cancelled once settled so that it does not hold the socket until then.
            let deadline = Mutex<Scheduled?>(nil)
            let settle: @Sendable (ConnectError?) -> Void = { refusal in
                guard !settled.exchange(true, ordering: .acquiringAndReleasing) else { return }
                deadline.withLock { $0 }?.cancel()
                if refusal != nil { self.counters.refusedByMiddleware() }
                loop.execute {
                    if let refusal {
                        socket.refuse(refusal)
                        self.recordRefusal(from: handshake.address)
                    } else {
                        socket.accept(pingInterval: interval, pingTimeout: timeout)
                    }
                }
            }
            let task = Task {
                do {
                    for middleware in chain {
                        try await middleware(handshake)
                        if settled.load(ordering: .acquiring) { return }
                    }
                    settle(nil)
                } catch let error as ConnectError {
                    settle(error)
                } catch {
                    settle(ConnectError(String(describing: error)))
                }
            }
            let timer = loop.execute(after: configuration.middlewareTimeout) {
                settle(ConnectError("middleware timeout"))
                task.cancel()
            }
            deadline.withLock { $0 = timer }
            // Settled before the deadline was stored: `settle` could not cancel it.
            if settled.load(ordering: .acquiring) { timer.cancel() }
        }
    }

    let router: Router
    let webSocketServer: WebSocketServer
    /// The Engine.IO endpoint; nil when ``Configuration/socketIOPath`` is nil.
    let socketIO: SocketIOEndpoint?
    let stopped = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Creates a server; call ``start()`` or ``run()`` to listen.
    public init(_ configuration: Configuration = Configuration()) {
        let router = Router(configuration: configuration)
        self.router = router
        let reference = ServerReference()
        var webSocketConfiguration = Self.transportConfiguration(configuration, router, reference)
        if let path = configuration.socketIOPath {
            let endpoint = SocketIOEndpoint(router: router, webSocket: webSocketConfiguration.webSocket)
            webSocketConfiguration.endpoints.append(HTTPEndpoint(prefix: path, maxBodyBytes: configuration.maxPayload) { request, responder in
                endpoint.handle(request, responder)
            })
            socketIO = endpoint
        } else {
            socketIO = nil
        }
        webSocketServer = WebSocketServer(configuration: webSocketConfiguration) { connection, request in
            router.connect(connection, request)
        }
        reference.set(self)
        router.refusalCounter.withLock { $0.server = webSocketServer }
    }

    /// The namespace `name` (created on first use). `/` is the main namespace.
    public func of(_ name: String) -> Namespace {
        router.namespace(name, create: true) ?? main
    }

    /// The main namespace, `/`.
    public var main: Namespace { router.main }

    /// Adds server-wide connection middleware: it runs for every client, whatever its
    /// namespace, before the namespace's own. Throwing ``ConnectError`` refuses the client.
    public func use(_ middleware: @escaping Namespace.Middleware) {
        router.middleware.withLock { $0.append(middleware) }
    }

    /// Adds a connection handler to the main namespace.
    public func onConnection(_ handler: @escaping @Sendable (Socket) throws -> Void) { main.onConnection(handler) }

    /// Emits to every socket of the main namespace.
    public func emit<T: Encodable>(_ event: String, _ data: T) throws { try main.emit(event, data) }
    /// Emits already-encoded JSON to every socket of the main namespace.
    public func emit(_ event: String, _ data: RawJSON?) throws { try main.emit(event, data) }
    /// Emits `event` without data to every socket of the main namespace.
    public func emit(_ event: String) throws { try main.emit(event) }
    /// Members of `room` in the main namespace.
    public func to(_ room: String) -> BroadcastOperator { main.to(room) }
    /// Everyone in the main namespace but the members of `room`.
    public func except(_ room: String) -> BroadcastOperator { main.except(room) }
    /// Emits that may be dropped for slow consumers.
    public var volatile: BroadcastOperator { main.volatile }
    /// Emits to this node's sockets of the main namespace only (not published to other nodes).
    public var local: BroadcastOperator { main.local }
    /// Sockets of the main namespace (on this node).
    public func fetchSockets() -> [Socket] { main.fetchSockets() }
    /// Makes every socket of the main namespace join `rooms`.
    public func socketsJoin(_ rooms: String...) { main.all.apply(.socketsJoin(rooms)) }
    /// Makes every socket of the main namespace leave `room`.
    public func socketsLeave(_ room: String) { main.socketsLeave(room) }
    /// Disconnects every socket of the main namespace.
    public func disconnectSockets() { main.disconnectSockets() }
    /// WebSocket clients connected to the server, all namespaces together.
    public var clientCount: Int { webSocketServer.connectionCount }

    /// The bound port (after ``start()``).
    public var port: Int { webSocketServer.port }

    /// Starts the cluster adapter (if any), then listens and starts the event loops.
    /// - Returns: the bound port.
    /// - Throws: ``WebSocketError/bindFailed(host:port:errno:)``; what the cluster adapter's
    ///   ``ClusterAdapter/start(_:)`` throws (for `RedisClusterAdapter`: `RedisError`, a bad URL,
    ///   a refused connection, refused `AUTH` or `SELECT`, no answer within 5 s), before
    ///   anything listens.
    @discardableResult
    public func start() throws -> Int {
        let port = try startListening()
        logListening(port: port)
        return port
    }

    private func startListening() throws -> Int {
        guard let cluster = router.cluster else { return try webSocketServer.start() }
        // The adapter gets the first event loop, and is connected before anything listens.
        let loops = webSocketServer.prepareLoops()
        do {
            try cluster.start(router.clusterContext(loop: loops[0]))
            return try webSocketServer.start()
        } catch {
            cluster.stop()
            webSocketServer.discardPreparedLoops()
            throw error
        }
    }

    /// Graceful shutdown: stops accepting, closes every client with 1001 "server shutting down"
    /// (no `disconnect` envelope: clients reconnect later, as after a lost connection; handlers
    /// on the server see the reason `server shutting down`), and returns when they are gone or
    /// `gracePeriod` has passed.
    public func close(gracePeriod: Duration = .seconds(5)) async {
        for namespace in router.namespaces.withLock({ Array($0.values) }) {
            for socket in namespace.fetchSockets() { socket.setReason(.serverShuttingDown) }
        }
        // With a cluster recovery store, sessions are saved before any is closed: recovered elsewhere.
        await router.saveSessionsForShutdown()
        socketIO?.closeAll()
        router.cluster?.stop()  // before the loops stop
        await webSocketServer.shutdown(gracePeriod: gracePeriod)
        let waiters = stopped.withLock { state in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
