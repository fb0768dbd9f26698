import ParleyProtocol
import ParleyWebSocket
import Synchronization

/// A namespace: its own middleware, connection handlers, sockets and rooms. Clients choose it
/// with the query parameter `nsp` when they connect (default `/`).
///
/// ```swift
/// let admin = io.of("/admin")
/// admin.use { handshake in
///     guard handshake.query["role"] == "admin" else { throw ConnectError("forbidden") }
/// }
/// admin.onConnection { socket in try socket.emit("welcome", "admin") }
/// ```
public final class Namespace: Sendable {
    /// Connection middleware: runs before a client is accepted; throwing refuses it.
    public typealias Middleware = @Sendable (Handshake) async throws -> Void

    /// The namespace name, e.g. `/` or `/admin`.
    public let name: String
    /// This node's rooms of the namespace.
    let roomStore = RoomStore()
    /// The root of the handler layouts its sockets share (see ``HandlerLayout``).
    let handlerLayouts = HandlerLayout()
    private let handlers = Mutex<(middleware: [Middleware], connection: [@Sendable (Socket) throws -> Void])>(([], []))
    /// The server's logger (``Server/Configuration/logger``).
    let logger: ParleyLogger
    /// Publishes broadcast operations to the other nodes; nil for a single node.
    let cluster: (any ClusterAdapter)?
    /// The server's counters (see ``Server/metrics``).
    let counters: ServerCounters
    /// Connection state recovery (packet log, sessions); nil when off.
    let recovery: NamespaceRecovery?

    init(name: String, logger: ParleyLogger, cluster: (any ClusterAdapter)? = nil,
         counters: ServerCounters = ServerCounters(), recovery: Server.ConnectionStateRecovery? = nil) {
        self.counters = counters
        self.name = name
        self.logger = logger
        self.cluster = cluster
        self.recovery = recovery.map { NamespaceRecovery(settings: $0, namespace: name, store: cluster as? any ClusterRecoveryStore) }
    }

    /// Writes a debug line (connects, disconnects, refusals) when the logger's level allows it.
    func log(_ message: @autoclosure () -> String) {
        logger.debug(message())
    }

    /// Adds connection middleware, run in the order added, after the server's own.
    public func use(_ middleware: @escaping Middleware) {
        handlers.withLock { $0.middleware.append(middleware) }
    }

    /// Adds a handler for newly connected sockets (after middleware accepted them and after
    /// they received `connect`). Register the socket's event handlers here. The handler may
    /// throw (`try socket.emit(...)`): what it throws is logged, and the socket stays connected.
    public func onConnection(_ handler: @escaping @Sendable (Socket) throws -> Void) {
        handlers.withLock { $0.connection.append(handler) }
    }

    var middleware: [Middleware] { handlers.withLock { $0.middleware } }

    func runConnectionHandlers(_ socket: Socket) {
        for handler in handlers.withLock({ $0.connection }) {
            do { try handler(socket) } catch { socket.report(error, from: "connection", ack: nil) }
        }
    }

    // MARK: Broadcast

    /// Every socket of the namespace.
    public var all: BroadcastOperator { BroadcastOperator(namespace: self) }

    /// Emits to every socket of the namespace.
    public func emit<T: Encodable>(_ event: String, _ data: T) throws { try all.emit(event, data) }
    /// Emits already-encoded JSON to every socket of the namespace.
    public func emit(_ event: String, _ data: RawJSON?) throws { try all.emit(event, data) }
    /// Emits `event` without data to every socket of the namespace.
    public func emit(_ event: String) throws { try all.emit(event) }
    /// The members of `room`.
    public func to(_ room: String) -> BroadcastOperator { all.to(room) }
    /// Everyone but the members of `room`.
    public func except(_ room: String) -> BroadcastOperator { all.except(room) }
    /// Emits that may be dropped for slow consumers.
    public var volatile: BroadcastOperator { all.volatile }
    /// Emits that reach this node's sockets only (with a cluster adapter, not the other nodes').
    public var local: BroadcastOperator { all.local }
    /// Every connected socket (of this node).
    public func fetchSockets() -> [Socket] { all.fetchSockets() }
    /// Makes every socket join `rooms` (of every node, with a cluster adapter).
    public func socketsJoin(_ rooms: String...) { all.apply(.socketsJoin(rooms)) }
    /// Makes every socket leave `room`.
    public func socketsLeave(_ room: String) { all.socketsLeave(room) }
    /// Disconnects every socket.
    public func disconnectSockets() { all.disconnectSockets() }
    /// Connected sockets.
    public var clientCount: Int { roomStore.count }

    /// Applications may not emit reserved names.
    static func checkEventName(_ name: String) throws {
        if ReservedEvents.contains(name) { throw ParleyError.reservedEvent(name) }
    }
}
