import Dispatch
import Foundation
import Parley
import ParleyIO
import ParleyRedis
import Synchronization

/// The state of the ordered log of connection state recovery (Protocol.md 11.1), in the
/// adapter's lock.
struct OrderedLog {
    /// Whether the server turned recovery on (``RedisClusterAdapter/enableRecovery(keeping:)``).
    var enabled = false
    /// `MAXLEN ~` of each stream.
    var maxEntries = 10_000
    /// The reading position in each namespace's stream (the last entry id delivered), by
    /// namespace; a namespace is read once its position is known.
    var positions: [String: [UInt8]] = [:]
    /// Whether an `XREAD` is in flight (one at a time).
    var reading = false
    /// The sequence number of this node's next appended entry, by namespace: one node's
    /// entries in one stream are numbered 1, 2, 3... with no gap.
    var nextSequences: [String: UInt64] = [:]
    /// This node's entries that were lost in flight and delivered here without an offset: if
    /// Redis did store them, they are not delivered again. Bounded: ``maxFallBacks``.
    var fellBack: Set<Appended> = []
    /// The last sequence number read from each node in each stream: a jump means entries that
    /// never reached this node. Bounded: ``maxOrigins``.
    var lastRead: [Origin: UInt64] = [:]
    /// Entries that never reached this node since start (``lastRead``'s jumps).
    var missed = 0

    /// One of this node's appended entries.
    struct Appended: Hashable {
        var namespace: String
        var sequence: UInt64
    }

    /// A node appending to a namespace's stream.
    struct Origin: Hashable {
        var node: [UInt8]
        var namespace: String
    }

    /// Entries remembered in ``fellBack`` at most: those in flight when a connection broke,
    /// a few thousand at most; beyond, the oldest are forgotten (a copy would then arrive).
    static let maxFallBacks = 65_536
    /// Nodes and namespaces remembered in ``lastRead`` at most; beyond, they start again (a
    /// node restarted has a new id, so old ones pile up over months).
    static let maxOrigins = 4_096

    /// Takes the sequence number `sequence` of `origin` read from its stream; returns how many
    /// entries of that node before it never reached this node (0 for the first one read).
    /// Entries of this node lost in flight (``fellBack``) were delivered when made: not counted.
    mutating func read(_ sequence: UInt64, from origin: Origin, isThisNode: Bool) -> Int {
        if lastRead.count >= Self.maxOrigins && lastRead[origin] == nil { lastRead.removeAll() }
        let last = lastRead[origin]
        lastRead[origin] = sequence
        guard let last, sequence > last + 1 else { return 0 }
        var gap = Int(clamping: sequence - last - 1)
        if isThisNode && !fellBack.isEmpty {
            // Counted one by one, up to the bound of what ``fellBack`` can hold.
            for lost in (last + 1)..<min(sequence, last + 1 + UInt64(Self.maxFallBacks)) {
                if fellBack.remove(Appended(namespace: origin.namespace, sequence: lost)) != nil { gap -= 1 }
            }
        }
        missed += gap
        return gap
    }
}

extension RedisClusterAdapter: ClusterRecoveryStore {
    /// `XREAD` waits this long for new entries before it is sent again: a namespace added
    /// meanwhile is read from then on. 250 ms: four idle round trips a second per node.
    static let readBlock = "250"
    /// Entries read per `XREAD` at most: 1,000 (about 100 KB of small events), so one read
    /// never holds the loop long.
    static let readCount = "1000"

    /// `<prefix>#<namespace>#stream`: the namespace's ordered log.
    func streamKey(for namespace: String) -> [UInt8] {
        Array("\(channelPrefix)#\(namespace)#stream".utf8)
    }

    /// `<prefix>#session#<namespace>#<token>`: a lost connection's session.
    func sessionKey(namespace: String, token: String) -> [UInt8] {
        Array("\(channelPrefix)#session#\(namespace)#\(token)".utf8)
    }

    /// Turns the ordered log on: a third connection reads the namespaces' streams. Called by
    /// the server before ``start(_:)`` when connection state recovery is on.
    public func enableRecovery(keeping maxEntries: Int) {
        state.withLock { state in
            state.log.enabled = true
            state.log.maxEntries = max(1, maxEntries)
        }
    }

    // MARK: Appending

    /// `XADD <stream> MAXLEN ~ <maxEntries> * p <message> s <sequence>` (the message of
    /// Protocol.md 11, this node's sequence number), pipelined on the publishing connection;
    /// false while it is down.
    public func append(_ operation: ClusterOperation, lost: @escaping @Sendable () -> Void) -> Bool {
        let namespace = operation.selection.namespace
        let (publisher, enabled, sequence, maxEntries) = state.withLock { state -> (RedisConnection?, Bool, UInt64, Int) in
            let sequence = state.log.nextSequences[namespace, default: 1]
            state.log.nextSequences[namespace] = sequence + 1
            return (state.publisher, state.log.enabled, sequence, state.log.maxEntries)
        }
        guard enabled, let publisher, let message = ClusterMessage(origin: nodeID, operation: operation).encoded() else { return false }
        let command: [[UInt8]] = [Array("XADD".utf8), streamKey(for: namespace), Array("MAXLEN".utf8), [UInt8(ascii: "~")],
                                  Array(String(max(1, maxEntries)).utf8), [UInt8(ascii: "*")],
                                  [UInt8(ascii: "p")], message, [UInt8(ascii: "s")], Array(String(sequence).utf8)]
        let dropped = publisher.send(bytes: command) { [weak self] result in
            guard case .failure(let error) = result else { return }
            if case .commandFailed = error {} else {
                // In flight when the connection broke: Redis may have it; if so, skip it later.
                self?.state.withLock { state in
                    if state.log.fellBack.count >= OrderedLog.maxFallBacks { state.log.fellBack.removeAll() }
                    state.log.fellBack.insert(OrderedLog.Appended(namespace: namespace, sequence: sequence))
                }
            }
            lost()
        }
        return dropped == nil
    }

    // MARK: Sessions

    /// `SET <prefix>#session#<namespace>#<token> <JSON> PX <expiry>`; dropped while Redis is down.
    public func saveSession(_ session: ClusterRecoverySession, expiry: Duration) {
        guard let publisher = state.withLock({ $0.publisher }), let json = try? JSONEncoder().encode(session) else { return }
        let milliseconds = max(1, expiry.components.seconds * 1000 + expiry.components.attoseconds / 1_000_000_000_000_000)
        publisher.send(bytes: [Array("SET".utf8), sessionKey(namespace: session.namespace, token: session.token), Array(json),
                               Array("PX".utf8), Array(String(milliseconds).utf8)], reply: nil)
    }

    /// `SET ... PX` of each session, pipelined; `completion` once Redis answered them all (or
    /// the connection failed them).
    public func saveSessions(_ sessions: [ClusterRecoverySession], expiry: Duration, completion: @escaping @Sendable () -> Void) {
        guard let publisher = state.withLock({ $0.publisher }), !sessions.isEmpty else { return completion() }
        let milliseconds = max(1, expiry.components.seconds * 1000 + expiry.components.attoseconds / 1_000_000_000_000_000)
        let remaining = Atomic<Int>(sessions.count)
        let answered: @Sendable () -> Void = {
            if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { completion() }
        }
        for session in sessions {
            guard let json = try? JSONEncoder().encode(session) else {
                answered()
                continue
            }
            let command: [[UInt8]] = [Array("SET".utf8), sessionKey(namespace: session.namespace, token: session.token), Array(json),
                                      Array("PX".utf8), Array(String(milliseconds).utf8)]
            if publisher.send(bytes: command, reply: { _ in answered() }) != nil { answered() }
        }
    }

    /// `GETDEL` of the session key and, when asked, `XRANGE <stream> <offset> +` (the offset
    /// must be its first entry: else entries after it were trimmed), pipelined. For `0-0`
    /// (an empty stream when the client connected), `XRANGE - +` and `XINFO STREAM`, whose
    /// `entries-added` must equal its `length` (nothing ever trimmed or deleted).
    public func takeSession(namespace: String, token: String, eventsAfter offset: String?,
                            completion: @escaping @Sendable (Result<ClusterRecoveryLookup, any Error>) -> Void) {
        guard let publisher = state.withLock({ $0.publisher }) else { return completion(.failure(RedisError.notConnected)) }
        struct Replies {
            var session: ClusterRecoverySession?
            var info: RESPValue?
            var done = false
        }
        let replies = Mutex(Replies())
        let finish: @Sendable (Result<ClusterRecoveryLookup, any Error>) -> Void = { result in
            guard !replies.withLock({ $0.done }) else { return }
            replies.withLock { $0.done = true }
            completion(result)
        }
        let getDel: [[UInt8]] = [Array("GETDEL".utf8), sessionKey(namespace: namespace, token: token)]
        if let error = publisher.send(bytes: getDel, reply: { result in
            switch result {
            case .failure(let error): finish(.failure(error))
            case .success(let value):
                let session = value.bytes.flatMap { try? JSONDecoder().decode(ClusterRecoverySession.self, from: Data($0)) }
                replies.withLock { $0.session = session }
                if offset == nil { finish(.success(ClusterRecoveryLookup(session: session, events: .notAsked))) }
            }
        }) {
            return completion(.failure(error))
        }
        guard let offset else { return }
        let key = streamKey(for: namespace)
        let fromStart = offset == "0-0"
        if fromStart {
            let sent = publisher.send(bytes: [Array("XINFO".utf8), Array("STREAM".utf8), key]) { result in
                // No stream at all: nothing was ever trimmed from it.
                let info: RESPValue = (try? result.get()) ?? .array([])
                replies.withLock { $0.info = info }
            }
            if let error = sent { return finish(.failure(error)) }
        }
        let range: [[UInt8]] = [Array("XRANGE".utf8), key, Array((fromStart ? "-" : offset).utf8), [UInt8(ascii: "+")]]
        if let error = publisher.send(bytes: range, reply: { [weak self] result in
            guard let self else { return finish(.failure(RedisError.notConnected)) }
            switch result {
            case .failure(let error): finish(.failure(error))
            case .success(let value):
                let (session, info) = replies.withLock { ($0.session, $0.info) }
                var entries = self.entries(value, namespace: namespace)
                let complete: Bool
                if fromStart {
                    complete = Self.neverTrimmed(info)
                } else if entries.first?.offset == offset {
                    entries.removeFirst()
                    complete = true
                } else {
                    complete = false
                }
                let events: ClusterRecoveryLookup.Events = complete ? .kept(entries.map { ($0.offset, $0.operation) }) : .noLongerKept
                finish(.success(ClusterRecoveryLookup(session: session, events: events)))
            }
        }) {
            finish(.failure(error))
        }
    }

    /// Whether an `XINFO STREAM` answer shows that no entry ever left the stream:
    /// `entries-added` (Redis 7) equals `length`. An empty answer (no stream) counts as such.
    static func neverTrimmed(_ info: RESPValue?) -> Bool {
        guard case .array(let items?)? = info else { return false }
        if items.isEmpty { return true }
        var fields: [String: Int64] = [:]
        var index = 0
        while index + 1 < items.count {
            if let name = items[index].string, case .integer(let value) = items[index + 1] { fields[name] = value }
            index += 2
        }
        guard let added = fields["entries-added"], let length = fields["length"] else { return false }
        return added == length
    }

    // MARK: Reading

    /// One stream entry: its id and the operation it carries, with the fields of its origin.
    struct Entry {
        var offset: String
        var operation: ClusterOperation
        /// The node that appended it.
        var origin: [UInt8]
        var fromThisNode: Bool
        /// Its number among its node's entries in this stream (`s`).
        var sequence: UInt64?
    }

    /// The entries of an `XRANGE` answer (or of one stream of an `XREAD` answer) that decode.
    func entries(_ value: RESPValue, namespace: String) -> [Entry] {
        guard case .array(let items?) = value else { return [] }
        var entries: [Entry] = []
        entries.reserveCapacity(items.count)
        for item in items {
            guard case .array(let parts?) = item, parts.count == 2, let id = parts[0].string, case .array(let fields?) = parts[1] else { continue }
            var payload: [UInt8]?
            var sequence: UInt64?
            var index = 0
            while index + 1 < fields.count {
                switch fields[index].string {
                case "p": payload = fields[index + 1].bytes
                case "s": sequence = fields[index + 1].string.flatMap { UInt64($0) }
                default: break
                }
                index += 2
            }
            guard let payload, let message = try? ClusterMessage(decoding: payload, namespace: namespace) else { continue }
            entries.append(Entry(offset: id, operation: message.operation, origin: message.origin,
                                 fromThisNode: message.origin == nodeID, sequence: sequence))
        }
        return entries
    }

    /// Learns where each registered namespace's stream ends (`XREVRANGE <stream> + - COUNT 1`,
    /// `0-0` when empty), tells the server, and reads from there. `done` runs once all answered.
    func startReading(_ namespaces: [String], done: @escaping @Sendable () -> Void = {}) {
        let (publisher, context) = state.withLock { ($0.publisher, $0.context) }
        guard let publisher, let context, !namespaces.isEmpty else { return done() }
        let remaining = Atomic<Int>(namespaces.count)
        for namespace in namespaces {
            let command: [[UInt8]] = [Array("XREVRANGE".utf8), streamKey(for: namespace), [UInt8(ascii: "+")], [UInt8(ascii: "-")],
                                      Array("COUNT".utf8), [UInt8(ascii: "1")]]
            let answered: @Sendable (RESPValue?) -> Void = { [weak self] value in
                defer { if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done() } }
                guard let self, let value else { return }
                var last: [UInt8] = Array("0-0".utf8)
                if case .array(let items?) = value, case .array(let entry?)? = items.first, let id = entry.first?.bytes { last = id }
                let known = self.state.withLock { state -> Bool in
                    if state.log.positions[namespace] != nil { return true }
                    state.log.positions[namespace] = last
                    return false
                }
                guard !known else { return }
                context.orderedLogStarted(namespace: namespace, at: String(decoding: last, as: UTF8.self))
                self.readNext()
            }
            if publisher.send(bytes: command, reply: { answered(try? $0.get()) }) != nil { answered(nil) }
        }
    }

    /// Starts reading the registered namespaces whose stream position is not known yet (their
    /// `XREVRANGE` was lost in an outage): called when the publishing connection is back.
    func startReadingUnread() {
        let unread = state.withLock { state -> [String] in
            guard state.log.enabled, state.reader != nil else { return [] }
            return state.channels.keys.filter { state.log.positions[$0] == nil }
        }
        if !unread.isEmpty { startReading(unread) }
    }

    /// Sends the next `XREAD BLOCK` unless one is in flight; each answer is delivered in order
    /// and the next read follows. Stops while Redis is down (restarted when it is back).
    func readNext() {
        let next = state.withLock { state -> (RedisConnection, [String], [[UInt8]])? in
            guard state.log.enabled, !state.log.reading, let reader = state.reader, !state.log.positions.isEmpty else { return nil }
            state.log.reading = true
            let positions = state.log.positions.sorted { $0.key < $1.key }
            return (reader, positions.map(\.key), positions.map(\.value))
        }
        guard let (reader, namespaces, ids) = next else { return }
        var command: [[UInt8]] = [Array("XREAD".utf8), Array("COUNT".utf8), Array(Self.readCount.utf8), Array("BLOCK".utf8),
                                  Array(Self.readBlock.utf8), Array("STREAMS".utf8)]
        command += namespaces.map { streamKey(for: $0) }
        command += ids
        let dropped = reader.send(bytes: command) { [weak self] result in
            guard let self else { return }
            guard case .success(let value) = result else {
                let context = self.state.withLock { state in
                    state.log.reading = false
                    return state.context
                }
                // An error answer (not a lost connection, which `.reconnected` resumes from):
                // tried again a second later.
                if case .failure(.commandFailed(let message)) = result, let context {
                    context.warning("parley: Redis refused XREAD (\(message)); reading the streams again in 1 s")
                    context.loop.execute(after: .seconds(1)) { [weak self] in self?.readNext() }
                }
                return
            }
            self.deliver(value, namespaces: namespaces)
            self.state.withLock { $0.log.reading = false }
            self.readNext()
        }
        if dropped != nil { state.withLock { $0.log.reading = false } }
    }

    /// Hands the entries of an `XREAD` answer to the server, stream by stream, in order.
    private func deliver(_ value: RESPValue, namespaces: [String]) {
        guard case .array(let streams?) = value, let context = state.withLock({ $0.context }) else { return }
        for stream in streams {
            guard case .array(let parts?) = stream, parts.count == 2, let key = parts[0].bytes,
                  let namespace = namespaces.first(where: { streamKey(for: $0) == key }) else { continue }
            let read = entries(parts[1], namespace: namespace)
            // One pass in the lock for the whole answer: the position, the jumps counted, and
            // what is left to apply outside it.
            let (toApply, missed) = state.withLock { state -> ([Entry], Int) in
                // The position moves past every entry, those that do not decode included.
                if case .array(let items?) = parts[1], case .array(let last?)? = items.last, let id = last.first?.bytes {
                    state.log.positions[namespace] = id
                }
                var missed = 0
                let toApply = read.filter { entry in
                    if let sequence = entry.sequence {
                        missed += state.log.read(sequence, from: OrderedLog.Origin(node: entry.origin, namespace: namespace),
                                                 isThisNode: entry.fromThisNode)
                    }
                    guard entry.fromThisNode else { return true }
                    // This node's room operations were applied when made; its emits lost in
                    // flight were delivered then.
                    guard case .emit = entry.operation.action else { return false }
                    guard let sequence = entry.sequence else { return true }
                    return state.log.fellBack.remove(OrderedLog.Appended(namespace: namespace, sequence: sequence)) == nil
                }
                return (toApply, missed)
            }
            for entry in toApply { context.applyOrdered(entry.operation, offset: entry.offset) }
            if missed > 0 {
                context.warning("parley: \(missed) events and room operations of namespace \(namespace) never reached this node: "
                    + "trimmed from the Redis stream before it read them (a burst larger than maxPackets?) or lost on "
                    + "their way to Redis; its clients missed them")
            }
        }
    }

    /// Entries of the streams that never reached this node since start: trimmed before it
    /// read them, or lost on their way to Redis (``Server/Metrics/Cluster/entriesMissed``).
    public var missedCount: Int { state.withLock { $0.log.missed } }
}
