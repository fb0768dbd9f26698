import ParleyIO
import Foundation
import Synchronization

/// A dependency-free RFC 6455 server: event loops (epoll or poll, see ``IOBackend``), the
/// HTTP/1.1 upgrade, and ``WebSocket`` connections, plus a few static HTTP resources.
///
/// ```swift
/// var configuration = WebSocketServer.Configuration(port: 0, path: "/")
/// let server = WebSocketServer(configuration: configuration) { socket, request in
///     socket.onMessage { socket, message in socket.send(message) }
/// }
/// let port = try server.start()
/// // ...
/// await server.shutdown()
/// ```
public final class WebSocketServer: Sendable {
    /// Where and how the server listens. Every default is explained where it is declared.
    public struct Configuration: Sendable {
        /// Address to bind: `127.0.0.1`, `::` (every IPv6 and IPv4 address), `0.0.0.0`, a name.
        /// Default loopback: exposing a server is a decision, not an accident.
        public var host = "127.0.0.1"
        /// TCP port; 0 picks a free one (read it from ``WebSocketServer/port``).
        public var port = 8887
        /// The path WebSocket upgrades are accepted on; other paths get 404 (or a route).
        public var path = "/"
        /// Allowed `Origin` values, e.g. `["https://chat.example.com"]`; `*` allows all.
        /// Requests without `Origin` (non-browser clients) are always allowed. Default `*`: a
        /// WebSocket server is open to any page unless told otherwise, like `ws` and Socket.IO.
        public var allowedOrigins = ["*"]
        /// Most WebSocket clients at once; more get 503 until one leaves. 10,000: what the
        /// default 1 MiB message limit and a few GiB of memory can serve safely.
        public var maxClients = 10_000
        /// The server-wide budget for peer data held in memory: every connection's parser carry
        /// (a frame not complete yet), fragments of a message being assembled, and send queue,
        /// summed. Over it, the connections holding the most are failed with close 1013 ("Try
        /// Again Later"), their buffers freed, until the sum is back under it; the others keep
        /// being served. The per-connection bounds (``WebSocket/Configuration``) still apply.
        /// Default: a quarter of physical memory, at most 1 GiB (at least 64 MiB): normal
        /// traffic holds far less (10,000 clients 100 KiB behind each is 1 GB), so on a large
        /// machine it closes only attackers and stalled peers; on a small one it keeps them from
        /// taking the memory. What it bounds exactly: ``BufferBudget``.
        public var maxBufferedBytes = BufferBudget.defaultLimit
        /// Most opening handshakes in progress at once (connections accepted whose request head
        /// is not complete yet); over it, a new connection gets `503 Service Unavailable` with
        /// `Retry-After` at accept, before anything is read. 1,000: a head is answered in well
        /// under a millisecond once it arrives, so even a reconnect storm of 10,000 clients keeps
        /// few in progress; slow or idle connections cannot hold more than 1,000 descriptors and
        /// 1,000 × ``maxHeaderBytes`` of memory.
        public var maxHandshakes = 1_000
        /// Most opening handshakes in progress from one client address, an IPv6 client's /64
        /// network counting as one (see ``RefusalLimiter/limitKey(ofPeer:)``; answered as
        /// ``maxHandshakes``). 32: a browser opens a few connections at a time, and a network
        /// behind one address (NAT) rarely has more heads in flight at once; a flood of half-open
        /// connections from one host takes 32 slots, not the server's descriptors.
        public var maxHandshakesPerAddress = 32
        /// Subprotocols the server speaks, in order of preference.
        public var subprotocols: [String] = []
        /// A request head must be complete within this time, or the connection is dropped
        /// (slowloris). 10 s: a slow mobile link sends a 1 KB head in well under a second.
        public var handshakeTimeout: Duration = .seconds(10)
        /// How long a persistent HTTP connection may wait for its next request after an answer
        /// (RFC 9112 9.3): plain HTTP requests (Engine.IO polls and posts, CORS preflights,
        /// routes, endpoints) are answered with `Connection: keep-alive`, and the connection
        /// reads the next request, under the same head limits as a new one. A connection idle
        /// this long is closed; nil closes every connection after its answer. 5 s: Node's
        /// `keepAliveTimeout`, which Socket.IO servers run with; a polling client posts and polls
        /// again within milliseconds, so its connections are reused, while an idle one is soon
        /// given back. Connections waiting for their next request count toward caps of their
        /// own, the values of ``maxHandshakes`` and ``maxHandshakesPerAddress``: past them an
        /// answer closes its connection, and new connections are never refused for them.
        /// Requests per connection are not capped (as Node).
        public var keepAliveTimeout: Duration? = .seconds(5)
        /// Largest request head; larger gets 431. 16 KiB: browsers' own limits are 8–16 KiB.
        public var maxHeaderBytes = 16 * 1024
        /// The listen backlog. 511: the common server default (nginx, Redis); the kernel caps
        /// it at `net.core.somaxconn`.
        public var backlog: Int32 = 511
        /// Event loop threads. Default: one per core the process may run on (its CPU affinity,
        /// so `taskset` and container CPU sets count), the most throughput when the server has
        /// those cores to itself. Where other busy processes share the cores (a database, a load
        /// generator), fewer loops can be faster: a loop that waits for a core costs more per
        /// message than it adds (BENCHMARKS.md measures one loop against two on two shared cores).
        public var loopCount = EventLoopGroup.coreCount
        /// How the loops wait for readiness. Default ``IOBackend/automatic``: the
        /// `PARLEY_IO_BACKEND` environment variable, else epoll on Linux and poll elsewhere.
        public var backend = IOBackend.automatic
        /// Plain HTTP resources answered on GET and HEAD, by path.
        public var routes: [String: HTTPResponse] = [:]
        /// Handlers of every request under a path prefix (long polling, an API), checked before
        /// the WebSocket path and the routes; none by default.
        public var endpoints: [HTTPEndpoint] = []
        /// Frame, message, queue and timer limits of every connection.
        public var webSocket = WebSocket.Configuration()
        /// The per-address limit on refused connection attempts (IPv6 per /64, see
        /// ``RefusalLimiter/limitKey(ofPeer:)``): over it, upgrades from that address get `429 Too Many Requests` with `Retry-After` before any WebSocket work.
        /// Counted: refused upgrade requests (any 4xx or 5xx but 429 and 503), unreadable request
        /// heads, and refusals reported with ``WebSocketServer/recordRefusal(from:)`` (the
        /// Parley server reports middleware refusals). nil turns it off. On by default, 20
        /// refusals per 10 s: see ``RefusalLimiter/Limit``.
        public var refusalLimit: RefusalLimiter.Limit? = RefusalLimiter.Limit()
        /// Called for every refused request (HTTP status 400 and above) with the status, the
        /// request path ("" when the head was unreadable) and the client address; nil by default.
        public var onRefusal: (@Sendable (_ status: Int, _ path: String, _ address: String) -> Void)?
        /// Where the server writes what happens: ``ParleyLogger/standardError`` (level `info`) by
        /// default. Refusals are logged at `debug`; accepts paused for lack of descriptors at
        /// `warning`, at most once a minute.
        public var logger: ParleyLogger = .standardError
        /// HTTP resources computed per request, by path, answered on GET and HEAD (other methods
        /// get 405): a metrics page, a page behind a token. Called on an event loop thread, so
        /// they must answer quickly. A static route of the same path is not consulted.
        public var dynamicRoutes: [String: @Sendable (HTTPRequestHead) -> HTTPResponse] = [:]
        /// Serve TLS (`wss://`, `https://`) with this certificate chain and key on the same port:
        /// every connection starts with a TLS handshake, covered by ``handshakeTimeout`` (a
        /// client that stalls mid-handshake is dropped like a slowloris). nil by default: plain
        /// `ws://`, for a server behind a TLS-terminating proxy or on loopback. ALPN defaults to
        /// `http/1.1` when the configuration names no protocol. See ``WebSocketServer/reloadTLS()``.
        public var tls: TLSConfiguration?

        public init(host: String = "127.0.0.1", port: Int = 8887, path: String = "/") {
            self.host = host
            self.port = port
            self.path = path
        }
    }

    /// What every loop's acceptor and handshake handler share.
    final class Context: Sendable {
        let configuration: Configuration
        let handshake: ServerHandshake
        let onConnection: @Sendable (WebSocket, HTTPRequestHead) -> Void
        let clientCount = Atomic<Int>(0)
        let accepting = Atomic<Bool>(true)
        let lastDescriptorWarning = Atomic<UInt64>(0)
        /// How often accepting paused for lack of descriptors (for tests and diagnostics).
        let descriptorPauses = Atomic<Int>(0)
        /// One set of counters per event loop (see ``WebSocketServer/metrics``).
        let counters: [ConnectionCounters]
        /// Refusals per client address; holds nil when ``Configuration/refusalLimit`` is nil.
        let refusals: Mutex<RefusalLimiter?>
        /// Whether refusals are limited (read without the lock).
        let limitsRefusals: Bool
        /// The TLS context new connections use; nil for plain. Replaced by ``WebSocketServer/reloadTLS()``.
        let tls = Mutex<TLSContext?>(nil)
        /// TLS handshake failures already logged, by cause (each is logged once, at debug).
        let loggedTLSFailures = Mutex<Set<String>>([])
        /// Causes remembered at most: OpenSSL has a few dozen, so this is only a bound.
        static let loggedTLSFailureLimit = 256

        /// Logs a TLS handshake failure at debug, the first time its cause is seen.
        func logTLSFailure(_ error: TLSError) {
            let logger = configuration.logger
            guard logger.isEnabled(.debug) else { return }
            let first = loggedTLSFailures.withLock { causes -> Bool in
                guard causes.count < Self.loggedTLSFailureLimit else { return false }
                return causes.insert(error.message).inserted
            }
            if first { logger.debug("parley: TLS handshake failed: \(error.message) (each cause is logged once)") }
        }
        /// Peer data held by every connection (``Configuration/maxBufferedBytes``).
        let budget: BufferBudget
        /// Handshakes in progress (``Configuration/maxHandshakes``).
        let handshakes: Mutex<HandshakeLimiter>
        /// Persistent connections waiting for their next request (``Configuration/keepAliveTimeout``).
        let keptAlive: Mutex<HandshakeLimiter>
        /// What the connections of each loop share (one per entry of ``counters``).
        private let settings: [ConnectionSettings]

        /// The shared settings of the connections counted by `counters` (those of one loop).
        func connectionSettings(for counters: ConnectionCounters) -> ConnectionSettings {
            settings.first { $0.counters === counters } ?? settings[0]
        }

        init(configuration: Configuration, onConnection: @escaping @Sendable (WebSocket, HTTPRequestHead) -> Void) {
            self.configuration = configuration
            self.onConnection = onConnection
            counters = (0..<max(1, configuration.loopCount)).map { _ in ConnectionCounters() }
            handshake = ServerHandshake(path: configuration.path, allowedOrigins: configuration.allowedOrigins,
                                        subprotocols: configuration.subprotocols, routes: configuration.routes)
            refusals = Mutex(configuration.refusalLimit.map { RefusalLimiter(limit: $0) })
            limitsRefusals = configuration.refusalLimit != nil
            budget = BufferBudget(limit: configuration.maxBufferedBytes)
            handshakes = Mutex(HandshakeLimiter(maxTotal: configuration.maxHandshakes,
                                                maxPerAddress: configuration.maxHandshakesPerAddress))
            keptAlive = Mutex(HandshakeLimiter(maxTotal: configuration.maxHandshakes,
                                               maxPerAddress: configuration.maxHandshakesPerAddress))
            // The hook frees a client slot; weak, since these settings are this context's.
            let slots = WeakContext()
            let budget = self.budget
            settings = counters.map { loopCounters in
                ConnectionSettings(configuration: configuration.webSocket, counters: loopCounters, budget: budget,
                                   subprotocols: configuration.subprotocols, onFinalize: { slots.context?.releaseSlot() })
            }
            slots.context = self
        }

        /// The context the connection settings free slots in.
        private final class WeakContext: @unchecked Sendable {
            /// Set once, in the context's initializer, before any connection exists.
            weak var context: Context?
        }

        /// Counts a refused attempt from `peer` (`ip:port`).
        func recordRefusal(from peer: String) {
            guard limitsRefusals else { return }
            let key = RefusalLimiter.limitKey(ofPeer: peer)
            refusals.withLock { $0?.recordRefusal(from: key, now: .now) }
        }

        /// The `Retry-After` seconds for `peer` when it is over the refusal limit, else nil.
        func refusalRetryAfter(for peer: String) -> Int? {
            guard limitsRefusals else { return nil }
            let key = RefusalLimiter.limitKey(ofPeer: peer)
            return refusals.withLock { $0?.retryAfter(for: key, now: .now) }.map(RefusalLimiter.retryAfterSeconds)
        }

        /// Takes a client slot; false when `maxClients` are connected.
        func reserveSlot() -> Bool {
            var current = clientCount.load(ordering: .relaxed)
            while current < configuration.maxClients {
                let (exchanged, actual) = clientCount.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
                if exchanged { return true }
                current = actual
            }
            return false
        }

        func releaseSlot() {
            let remaining = clientCount.subtract(1, ordering: .acquiringAndReleasing).newValue
            if remaining == 0 { resumeDrainWaiter() }
        }

        /// The shutdown waiting for the last client to leave.
        private let drainWaiter = Mutex<CheckedContinuation<Void, Never>?>(nil)

        /// Returns once no WebSocket client is connected (or ``resumeDrainWaiter()`` is called).
        func waitUntilDrained() async {
            await withCheckedContinuation { continuation in
                let resumeNow = drainWaiter.withLock { waiter -> Bool in
                    if clientCount.load(ordering: .acquiring) == 0 { return true }
                    waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }

        func resumeDrainWaiter() {
            drainWaiter.withLock { waiter in
                let taken = waiter
                waiter = nil
                return taken
            }?.resume()
        }
    }

    let context: Context
    private let state = Mutex<(group: EventLoopGroup?, listenFD: Int32, port: Int)>((nil, -1, 0))
    /// Loops started by ``prepareLoops()`` for ``start()`` to use.
    private let preparedGroup = Mutex<EventLoopGroup?>(nil)

    /// - Parameters:
    ///   - configuration: where to listen and the limits.
    ///   - onConnection: called on the connection's loop for every upgraded connection, with
    ///     the upgrade request (path, query, headers). Set the socket's handlers here: frames
    ///     are read only after it returns.
    public init(configuration: Configuration,
                onConnection: @escaping @Sendable (_ socket: WebSocket, _ request: HTTPRequestHead) -> Void) {
        context = Context(configuration: configuration, onConnection: onConnection)
    }

    /// The bound port (useful with port 0); 0 before ``start()``.
    public var port: Int { state.withLock { $0.port } }

    /// WebSocket clients connected now.
    public var connectionCount: Int { context.clientCount.load(ordering: .relaxed) }

    /// Counts a connection refused above the WebSocket layer (e.g. by authentication
    /// middleware) toward ``Configuration/refusalLimit`` for its address.
    /// - Parameter peer: the client's address as ``WebSocket/remoteAddress`` gives it.
    public func recordRefusal(from peer: String) {
        context.recordRefusal(from: peer)
    }

    /// Binds, listens and starts the event loops.
    ///
    /// Also ignores SIGPIPE and raises the open-file soft limit to the hard limit.
    /// - Returns: the bound port.
    /// - Throws: ``WebSocketError/bindFailed(host:port:errno:)``; with ``Configuration/tls``,
    ///   ``WebSocketError/tls(_:)`` when OpenSSL is missing or the certificate or key cannot be
    ///   loaded (before anything listens).
    @discardableResult
    public func start() throws -> Int {
        SystemSocket.ignoreSIGPIPE()
        SystemSocket.raiseOpenFileLimit()
        let configuration = context.configuration
        if configuration.tls != nil { try reloadTLS() }
        let listener: (fd: Int32, port: Int)
        switch SystemSocket.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog,
                                   portable: configuration.backend.resolved == .poll) {
        case .success(let bound): listener = bound
        case .failure(let error):
            throw WebSocketError.bindFailed(host: configuration.host, port: configuration.port, errno: error.code)
        }
        let group = preparedGroup.withLock { prepared in
            defer { prepared = nil }
            return prepared
        } ?? EventLoopGroup(loopCount: configuration.loopCount, name: "parley-server", backend: configuration.backend)
        let context = self.context
        if group.loops[0].sharesListenersExclusively {
            for (index, loop) in group.loops.enumerated() {
                let counters = context.counters[index % context.counters.count]
                loop.execute { Acceptor(listenFD: listener.fd, loop: loop, targets: [(loop, counters)], context: context).register() }
            }
        } else {
            let acceptingLoop = group.loops[0]
            let targets = group.loops.enumerated().map { ($1, context.counters[$0 % context.counters.count]) }
            acceptingLoop.execute {
                Acceptor(listenFD: listener.fd, loop: acceptingLoop, targets: targets, context: context).register()
            }
        }
        state.withLock { $0 = (group, listener.fd, listener.port) }
        Self.startMemoryTrimming(on: group.loops[0], context: context)
        return listener.port
    }

    /// Loads the TLS certificate chain and key of ``Configuration/tls`` again (the files are
    /// read anew): connections accepted from now on use them, open ones go on with theirs.
    /// Call it after a certificate is renewed (`parley-server` does on `SIGHUP`). Nothing
    /// changes when it throws.
    ///
    /// ```swift
    /// try server.reloadTLS()   // e.g. from ProcessSignals' onHangUp
    /// ```
    /// - Throws: ``WebSocketError/tls(_:)`` naming the file or setting at fault, or
    ///   ``WebSocketError/tlsNotConfigured`` when the server was configured without TLS.
    public func reloadTLS() throws(WebSocketError) {
        guard var configuration = context.configuration.tls else { throw .tlsNotConfigured }
        if configuration.applicationProtocols.isEmpty { configuration.applicationProtocols = ["http/1.1"] }
        let made: TLSContext
        do { made = try TLSContext(configuration: configuration, role: .server) } catch { throw .tls(error) }
        context.tls.withLock { $0 = made }
    }

    /// Starts the event loops before ``start()`` listens, so that other connections (a Redis
    /// client) can live on them; ``start()`` then uses these loops. Call at most once, before
    /// ``start()``; ``discardPreparedLoops()`` stops them if ``start()`` is not called.
    package func prepareLoops() -> [EventLoop] {
        preparedGroup.withLock { prepared in
            let group = prepared ?? EventLoopGroup(loopCount: context.configuration.loopCount, name: "parley-server",
                                                   backend: context.configuration.backend)
            prepared = group
            return group.loops
        }
    }

    /// Stops loops made by ``prepareLoops()`` that ``start()`` has not taken.
    package func discardPreparedLoops() {
        let group = preparedGroup.withLock { prepared in
            defer { prepared = nil }
            return prepared
        }
        group?.shutdown()
    }

    /// Stops accepting, closes every connection with 1001 ("server shutting down"), waits up
    /// to `gracePeriod` for the closing handshakes, drops what is left, and stops the loops.
    public func shutdown(gracePeriod: Duration = .seconds(5)) async {
        let (group, listenFD) = state.withLock { state in
            defer { state.group = nil; state.listenFD = -1 }
            return (state.group, state.listenFD)
        }
        guard let group else { return }
        context.accepting.store(false, ordering: .releasing)
        for loop in group.loops {
            loop.execute {
                for handler in loop.handlers {
                    if let acceptor = handler as? Acceptor { acceptor.deregister() }
                    if let socket = handler as? WebSocket { socket.close(code: .goingAway, reason: "server shutting down") }
                    if let upgrade = handler as? UpgradeHandler { upgrade.drop() }
                }
            }
        }
        // Whichever comes first: the last client leaves, or the grace period ends.
        let context = self.context
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await context.waitUntilDrained() }
            group.addTask { try? await Task.sleep(for: gracePeriod) }
            await group.next()
            group.cancelAll()
            context.resumeDrainWaiter()
        }
        for loop in group.loops {
            loop.execute {
                for handler in loop.handlers {
                    if let socket = handler as? WebSocket { socket.terminate(reason: "server shut down") }
                }
            }
        }
        closeDescriptor(listenFD)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                group.shutdown()
                continuation.resume()
            }
        }
    }
}
