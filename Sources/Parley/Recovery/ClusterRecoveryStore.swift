import Foundation

/// What a cluster engine provides so that connection state recovery works across nodes: one
/// order of the kept events for the whole cluster, and the sessions of lost connections, both
/// held where every node can reach them. A ``ClusterAdapter`` that also adopts this protocol is
/// used for it when ``Server/Configuration/connectionStateRecovery`` is on; without it (or
/// without an adapter) each node keeps its own log and sessions, and a client must come back
/// to the same node to recover.
///
/// **The ordered log.** With a store, the non-volatile, non-`local` operations of a namespace
/// (emits, `socketsJoin`, `socketsLeave`, `disconnectSockets`) are not published: the server
/// hands them to ``append(_:lost:)``, and the store gives **every** operation of the log
/// (those of this node included) back to each node in log order with
/// ``ClusterContext/applyOrdered(_:offset:)``, emits carrying their position in the log. That
/// position is the event's `offset` on every node, so an offset a client got from one node
/// means the same on another. The node that made a room operation applied it already: the store
/// does not give it back to that node (emits it does: that is how they reach its sockets).
/// Volatile emits stay on ``ClusterAdapter/publish(_:)``.
///
/// Offsets are strings of two unsigned decimal numbers, `"MAJOR-MINOR"` (a Redis stream entry
/// id, `"1712345678901-0"`), increasing along the log; `"0-0"` is the position before the
/// first entry. Each node keeps the events it delivered in its own bounded log, so a recovery
/// on the node that delivered them needs only the session from the store.
///
/// **Sessions.** At a lost connection the server saves the socket's session
/// (``saveSession(_:expiry:)``); the node a client comes back to takes it once
/// (``takeSession(namespace:token:eventsAfter:completion:)``), and with it, when its own log
/// does not reach back to the client's offset, the log's events after that offset. Envelope and
/// Socket.IO clients alike: a Socket.IO client's `pid` is its session token.
///
/// **Unavailable.** A store that cannot append (its connection is down) returns false: the
/// server delivers the event to its own sockets without an offset (not kept) and publishes it.
/// A lookup that fails, or does not answer within ``Server/ConnectionStateRecovery/clusterLookupTimeout``,
/// gives the client a fresh session with the reason `recovery unavailable`.
///
/// `RedisClusterAdapter` (ParleyRedisAdapter) adopts it with a Redis stream per namespace and
/// one key per session (Protocol.md 11.1).
public protocol ClusterRecoveryStore: AnyObject, Sendable {
    /// Turns the ordered log on. Called by the server once, before ``ClusterAdapter/start(_:)``,
    /// when connection state recovery is on: from ``ClusterAdapter/start(_:)`` on, the store
    /// reads the log of every registered namespace (telling where with
    /// ``ClusterContext/orderedLogStarted(namespace:at:)``) and gives its entries back with
    /// ``ClusterContext/applyOrdered(_:offset:)``. A store never enabled does nothing of this.
    /// - Parameter maxEntries: about how many entries the log keeps per namespace
    ///   (``Server/ConnectionStateRecovery/maxPackets``); older ones may be dropped.
    func enableRecovery(keeping maxEntries: Int)

    /// Appends an operation to its namespace's ordered log. Called on the emitting thread
    /// (often an event loop): must not block.
    /// - Parameters:
    ///   - operation: an emit or a room operation, never volatile or `local`. An emit comes back
    ///     as it went in, ``EncodedEnvelope/spreadsArguments`` included (Socket.IO clients get
    ///     a several-argument event's arguments from it, live and in a replay).
    ///   - lost: call it (once, from any thread) when an operation accepted here was lost
    ///     before the log had it for sure (the connection broke with it in flight): the server
    ///     then delivers it to its own sockets without an offset. The log must then not give
    ///     it back to this node if it did store it.
    /// - Returns: false when it cannot be appended now: the server delivers and publishes it
    ///   as without a store.
    func append(_ operation: ClusterOperation, lost: @escaping @Sendable () -> Void) -> Bool

    /// Keeps the session of a lost connection for `expiry`, replacing one with the same
    /// namespace and token. Must not block; a store that cannot save it drops it (the client
    /// then gets a fresh session).
    /// - Parameters:
    ///   - session: the socket's id, rooms and data, and when its connection was lost.
    ///   - expiry: how long it may be taken (``Server/ConnectionStateRecovery/maxDisconnectionDuration``).
    func saveSession(_ session: ClusterRecoverySession, expiry: Duration)

    /// Keeps the sessions of the connections this node is about to close because it shuts down
    /// (their clients reconnect to another node), and calls `completion` once they are stored
    /// or cannot be. ``Server/close(gracePeriod:)`` waits for it, 1 s at most, before
    /// ``ClusterAdapter/stop()``. By default: ``saveSession(_:expiry:)`` for each, then
    /// `completion` at once.
    /// - Parameters:
    ///   - sessions: the sessions, as lost now.
    ///   - expiry: as for ``saveSession(_:expiry:)``.
    ///   - completion: called once, from any thread.
    func saveSessions(_ sessions: [ClusterRecoverySession], expiry: Duration, completion: @escaping @Sendable () -> Void)

    /// Takes the session of `token` out of the store (no other node can take it after), and
    /// the log's events after `offset` when asked. Must not block: `completion` is called once,
    /// from any thread.
    /// - Parameters:
    ///   - namespace: the namespace the client connects to.
    ///   - token: the session token the client presented.
    ///   - offset: nil: only the session; else the client's last offset, whose later events
    ///     the completion must carry (``ClusterRecoveryLookup/Events``).
    ///   - completion: what was found, or the error that made the store unavailable.
    func takeSession(namespace: String, token: String, eventsAfter offset: String?,
                     completion: @escaping @Sendable (Result<ClusterRecoveryLookup, any Error>) -> Void)
}

extension ClusterRecoveryStore {
    /// Saves each session with ``saveSession(_:expiry:)``, then calls `completion`.
    public func saveSessions(_ sessions: [ClusterRecoverySession], expiry: Duration, completion: @escaping @Sendable () -> Void) {
        for session in sessions { saveSession(session, expiry: expiry) }
        completion()
    }
}

/// The session of a lost connection as a ``ClusterRecoveryStore`` keeps it: plain values, JSON
/// with `Codable`.
public struct ClusterRecoverySession: Sendable, Codable, Equatable {
    /// The namespace, e.g. `/`.
    public var namespace: String
    /// The session token (Protocol.md 5.5).
    public var token: String
    /// The socket id the client gets back.
    public var id: String
    /// Its rooms, the room named by its id left out.
    public var rooms: [String]
    /// `socket.data` as a JSON object: the values that JSON can carry (strings, numbers,
    /// booleans, null, arrays and dictionaries of them); other values stay behind.
    public var data: String
    /// When the connection was lost: milliseconds since 1970 (wall clock, which nodes share).
    public var disconnectedAt: Int64

    /// Creates a session.
    public init(namespace: String, token: String, id: String, rooms: [String], data: String, disconnectedAt: Int64) {
        self.namespace = namespace
        self.token = token
        self.id = id
        self.rooms = rooms
        self.data = data
        self.disconnectedAt = disconnectedAt
    }
}

/// What ``ClusterRecoveryStore/takeSession(namespace:token:eventsAfter:completion:)`` found.
public struct ClusterRecoveryLookup: Sendable {
    /// The log's events after an offset.
    public enum Events: Sendable {
        /// Not asked for.
        case notAsked
        /// Every entry of the log after the offset, in log order, each with its offset (room
        /// operations may be among them: the server replays emits only). Empty: none since.
        case kept([(offset: String, operation: ClusterOperation)])
        /// Some entries after the offset are no longer in the log, or the offset is not one of
        /// it: no replay can be complete.
        case noLongerKept
    }

    /// The session of the token, taken; nil when the store has none (forged, expired, taken).
    public var session: ClusterRecoverySession?
    /// The events after the offset asked for.
    public var events: Events

    /// Creates an answer.
    public init(session: ClusterRecoverySession?, events: Events) {
        self.session = session
        self.events = events
    }
}
