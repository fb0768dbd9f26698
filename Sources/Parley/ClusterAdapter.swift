/// A cluster engine: what a server needs to share broadcasts and room operations with the other
/// servers (nodes) of a cluster. Set one in ``Server/Configuration/clusterAdapter``; without one
/// (the default) the server is a single node and everything stays in the process.
///
/// The server applies every broadcast operation (`emit`, `socketsJoin`, `socketsLeave`,
/// `disconnectSockets`) to its own sockets first; then, unless the operation is `local`, it
/// calls ``publish(_:)`` with a plain value: which sockets (``BroadcastSelection``), how
/// (``BroadcastFlags``) and what (``ClusterOperation/Action``, an emit carrying the envelope
/// bytes encoded once). The engine carries that to the other nodes, and each of them hands it
/// to its server with ``ClusterContext/apply(_:)``, which selects that node's sockets with the
/// same rules. Rooms stay per node: the engine stores none.
///
/// An engine must:
/// - deliver each published operation to every other node of the cluster at most once, and
///   never back to the node that published it (that node applied it already);
/// - keep the order of one node's operations (an emit published after a `socketsJoin` must
///   reach the joined sockets);
/// - never block ``publish(_:)``: it is called on the emitting thread, often an event loop.
///   When the transport is down, drop (and count) rather than queue without bound.
///
/// `ParleyRedisAdapter` is one engine (`RedisClusterAdapter`, Redis pub/sub). Another one (NATS,
/// Postgres `LISTEN`/`NOTIFY`, ...) implements this protocol in its own module, with no change
/// to Parley. A minimal one that relays operations between servers of one process:
///
/// ```swift
/// import Parley
///
/// /// Links the servers of one process; each server gets its own `Node`.
/// final class LocalHub: Sendable {
///     private let nodes = Mutex<[ObjectIdentifier: ClusterContext]>([:])
///
///     final class Node: ClusterAdapter {
///         let hub: LocalHub
///         init(hub: LocalHub) { self.hub = hub }
///
///         func start(_ context: ClusterContext) throws {
///             hub.nodes.withLock { $0[ObjectIdentifier(self)] = context }
///         }
///         func register(namespace: String) {}   // this hub delivers every namespace
///         func publish(_ operation: ClusterOperation) {
///             let others = hub.nodes.withLock { $0.filter { $0.key != ObjectIdentifier(self) }.values }
///             for context in others { context.apply(operation) }
///         }
///         func stop() { hub.nodes.withLock { $0[ObjectIdentifier(self)] = nil } }
///     }
/// }
///
/// let hub = LocalHub()
/// var configuration = Server.Configuration(port: 8001)
/// configuration.clusterAdapter = LocalHub.Node(hub: hub)
/// ```
///
/// An engine that crosses a network encodes the operation (``BroadcastSelection``, flags, the
/// action; for an emit ``EncodedEnvelope/bytes``, relayed without parsing), plus an id of the
/// origin node so that a node can skip its own messages: Protocol.md, "Scale-out over Redis",
/// documents the format `RedisClusterAdapter` uses.
///
/// An engine that also adopts ``ClusterRecoveryStore`` makes connection state recovery work
/// across nodes (one order of events and the sessions, shared); without it each node keeps its
/// own.
///
/// Requests that need answers from every node (`fetchSockets` across nodes, `serverSideEmit`
/// with acknowledgements) are not part of this protocol: `fetchSockets` answers with this
/// node's sockets. They would be added as further requirements with default implementations,
/// so that existing engines keep compiling.
public protocol ClusterAdapter: AnyObject, Sendable {
    /// Connects the engine; called once by ``Server/start()``, before the server listens, from
    /// the thread that starts the server (it may block until connected, within a bounded
    /// time). Keep `context` to hand received operations to the server.
    /// - Parameter context: the server's event loop for the engine's I/O, the way back to the
    ///   server (``ClusterContext/apply(_:)``) and its logs.
    /// - Throws: why the cluster cannot be joined (a bad address, a refused connection, refused
    ///   credentials, a timeout): ``Server/start()`` throws it, and nothing listens.
    func start(_ context: ClusterContext) throws

    /// Announces a namespace of this server: the engine receives operations of the namespaces
    /// registered. Called for `/` before ``start(_:)``, and for each namespace as the server
    /// creates it (before or after `start`, from any thread).
    /// - Parameter namespace: its name, e.g. `/` or `/admin`.
    func register(namespace: String)

    /// Sends an operation this server just applied to its own sockets to the other nodes.
    /// Called on the emitting thread (often an event loop): must not block.
    /// - Parameter operation: the selection, flags and action (never ``BroadcastFlags/local``).
    func publish(_ operation: ClusterOperation)

    /// Disconnects and releases the ``ClusterContext``; called by ``Server/close(gracePeriod:)``
    /// (before the event loops stop), or when ``Server/start()`` fails. Also called on an
    /// adapter that was never started: it must then do nothing.
    func stop()

    /// The engine's health, for ``Server/metrics`` and the admin dashboard: its kind, whether
    /// its connections are up, and the operations it could not publish since start. Read from
    /// any thread, about once a second at most.
    var status: Server.Metrics.Cluster { get }
}

extension ClusterAdapter {
    /// An engine that reports nothing: its type name, connected, nothing dropped.
    public var status: Server.Metrics.Cluster {
        Server.Metrics.Cluster(kind: String(describing: Self.self), connected: true, publishesDropped: 0)
    }
}
