/// The deduplication of re-sent events (Protocol.md 5.6), for the clients of one namespace: a
/// value without I/O or locks.
///
/// A client that re-sends events after a reconnection (the `retries` of the Swift client and of
/// `parley.js`) sends a `dedupeKey` when it connects and never reuses an acknowledgement id under
/// it. Per key the ledger remembers the events whose handler ran: an event seen before is not
/// run again, but answered with the answer already given (or, when that answer is still being
/// made, by it once it is).
///
/// Bounded: per key at most `maxAnswers` answers and `maxBytes` of them (the oldest are
/// forgotten first); a key is forgotten `window` after its last connection ended; at most
/// `maxClients` keys (the least recently connected go first).
struct RetryLedger {
    /// What to do with an event asking for an acknowledgement.
    enum Begin {
        /// New: run its handlers.
        case run
        /// Already answered: send these bytes (the answer) again.
        case resend([UInt8])
        /// Already running: its answer will be sent to this socket too.
        case wait
    }

    private enum Answer {
        case running(waiters: [Socket])
        case answered([UInt8])
    }

    private struct Client {
        var answers: [UInt64: Answer] = [:]
        /// Ids in the order their events arrived.
        var order: [UInt64] = []
        var bytes = 0
        var connections = 0
        var lastSeen: ContinuousClock.Instant
    }

    let maxAnswers: Int
    let maxBytes: Int
    let window: Duration
    let maxClients: Int
    private var clients: [String: Client] = [:]
    /// When ``forget(now:)`` last swept: it sweeps at most every `window / 4`.
    private var lastSweep: ContinuousClock.Instant?

    init(maxAnswers: Int, maxBytes: Int, window: Duration, maxClients: Int) {
        self.maxAnswers = max(1, maxAnswers)
        self.maxBytes = maxBytes
        self.window = window
        self.maxClients = max(1, maxClients)
    }

    /// Keys remembered.
    var count: Int { clients.count }

    mutating func joined(_ key: String, now: ContinuousClock.Instant) {
        if clients[key] == nil {
            forget(now: now)
            if clients.count >= maxClients, let oldest = clients.filter({ $0.value.connections == 0 }).min(by: { $0.value.lastSeen < $1.value.lastSeen }) {
                clients[oldest.key] = nil
            }
        }
        clients[key, default: Client(lastSeen: now)].connections += 1
        clients[key]?.lastSeen = now
    }

    mutating func left(_ key: String, now: ContinuousClock.Instant) {
        guard var client = clients[key] else { return }
        client.connections = max(0, client.connections - 1)
        client.lastSeen = now
        clients[key] = client
    }

    mutating func begin(_ key: String, id: UInt64, socket: Socket) -> Begin {
        guard var client = clients[key] else { return .run }
        defer { clients[key] = client }
        switch client.answers[id] {
        case .answered(let bytes)?:
            return .resend(bytes)
        case .running(let waiters)?:
            client.answers[id] = .running(waiters: waiters + [socket])
            return .wait
        case nil:
            client.answers[id] = .running(waiters: [])
            client.order.append(id)
            trim(&client)
            return .run
        }
    }

    mutating func answered(_ key: String, id: UInt64, bytes: [UInt8]) -> [Socket] {
        guard var client = clients[key], case .running(let waiters)? = client.answers[id] else { return [] }
        client.answers[id] = .answered(bytes)
        client.bytes += bytes.count
        trim(&client)
        clients[key] = client
        return waiters
    }

    /// Forgets the keys without connection for longer than `window`.
    mutating func forget(now: ContinuousClock.Instant) {
        if let lastSweep, now - lastSweep < window / 4 { return }
        lastSweep = now
        clients = clients.filter { $0.value.connections > 0 || now - $0.value.lastSeen <= window }
    }

    private func trim(_ client: inout Client) {
        var dropped = 0
        while dropped < client.order.count && (client.order.count - dropped > maxAnswers || client.bytes > maxBytes) {
            if case .answered(let bytes)? = client.answers.removeValue(forKey: client.order[dropped]) { client.bytes -= bytes.count }
            dropped += 1
        }
        if dropped > 0 { client.order.removeFirst(dropped) }
    }
}
