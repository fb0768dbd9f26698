/// The sessions of one namespace whose connection was lost, waiting for their client to come
/// back with the session token: a value without I/O or locks.
///
/// A session stays recoverable for `window` after its disconnection. It is remembered for one
/// more window after that (at least 10 s), so that a client coming back late hears
/// `session expired` rather than `unknown session`; then it is forgotten. At most `limit` sessions are kept: beyond,
/// the oldest go first.
struct SessionStore {
    /// What a socket leaves behind.
    struct Session: Sendable {
        var token: String
        var id: String
        /// Its rooms, the room named by its id left out.
        var rooms: Set<String>
        var data: SocketData
        var disconnected: ContinuousClock.Instant
    }

    let window: Duration
    let limit: Int
    private var sessions: [String: Session] = [:]
    /// Tokens in disconnection order, with the time saved (an entry whose time differs from its
    /// session's is stale: taken, or saved again since): `order[head...]`.
    private var order: [(token: String, disconnected: ContinuousClock.Instant)] = []
    private var head = 0

    init(window: Duration, limit: Int) {
        self.window = window
        self.limit = max(1, limit)
    }

    var count: Int { sessions.count }

    /// Keeps a session (replacing one with the same token).
    mutating func save(_ session: Session) {
        sessions[session.token] = session
        order.append((session.token, session.disconnected))
        while sessions.count > limit, head < order.count {
            let entry = order[head]
            head += 1
            if sessions[entry.token]?.disconnected == entry.disconnected { sessions[entry.token] = nil }
        }
        compact()
    }

    /// Takes the session of `token` out of the store.
    /// - Returns: the session, or why it cannot be recovered.
    mutating func take(_ token: String, now: ContinuousClock.Instant) -> Result<Session, RecoveryFailure> {
        forget(now: now)
        guard let session = sessions.removeValue(forKey: token) else { return .failure(.unknownSession) }
        guard now - session.disconnected <= window else { return .failure(.sessionExpired) }
        return .success(session)
    }

    /// How long a session is remembered after its disconnection.
    var memory: Duration { window + max(window, .seconds(10)) }

    /// Forgets the sessions disconnected longer than ``memory`` ago.
    mutating func forget(now: ContinuousClock.Instant) {
        while head < order.count {
            let entry = order[head]
            guard now - entry.disconnected > memory else { break }
            if sessions[entry.token]?.disconnected == entry.disconnected { sessions[entry.token] = nil }
            head += 1
        }
        compact()
    }

    private mutating func compact() {
        order.compactConsumedPrefix(head: &head)
    }
}

/// Why a client that asked for recovery got a fresh session instead: the `reason` of its
/// `connect` envelope (Protocol.md 5.5).
enum RecoveryFailure: String, Sendable, Error {
    /// No session has this token in this namespace: forged, of another namespace, of a server
    /// that restarted since, already recovered by another connection, or long forgotten.
    case unknownSession = "unknown session"
    /// The session was disconnected longer than `maxDisconnectionDuration` ago.
    case sessionExpired = "session expired"
    /// Some events after the client's offset are no longer kept (or the offset is not one this
    /// server gave out): a replay would have a gap, so none is made.
    case packetsNotKept = "packets no longer kept"
    /// The cluster's store (Redis) could not be asked, or did not answer in time.
    case unavailable = "recovery unavailable"
}
