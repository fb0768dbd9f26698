import Foundation
import ParleyProtocol
import ParleyWebSocket
import Synchronization

/// Connection state recovery for one namespace on this server: its packet log, the sessions
/// waiting for their client, the live sessions by token, and the deduplication of re-sent
/// events. Thread-safe.
///
/// **Order.** An event gets its offset, enters the log and is handed to its targets in one
/// critical section, and every hand-off to a loop is queued in that same order; a socket being
/// recovered gets `connect` and its replay in a critical section too, before any later event
/// can reach it. So each socket receives offsets in increasing order, a replay never overlaps
/// the live events that follow it, and the client's last offset says exactly what it has.
///
/// **Across nodes.** With a ``ClusterRecoveryStore`` the offsets are the store's: events are
/// appended to its ordered log and come back through ``deliverOrdered(_:selection:offset:rooms:)``
/// on every node, sessions are saved to and taken from it, and events a client missed that
/// this node's log does not hold are fetched from it (``NamespaceRecovery+Cluster.swift``).
final class NamespaceRecovery: Sendable {
    let settings: Server.ConnectionStateRecovery
    /// The namespace's name.
    let namespace: String
    /// The cluster's log and sessions; nil: this node's own.
    let store: (any ClusterRecoveryStore)?

    /// Hand-offs queued to one event loop and not yet run. While some are, an event emitted on
    /// that loop's own thread is queued behind them rather than written at once.
    private final class LoopQueue: Sendable {
        let loop: EventLoop
        let pending = Atomic<Int>(0)
        init(loop: EventLoop) { self.loop = loop }
    }

    private struct State {
        var log: PacketLog
        var sessions: SessionStore
        /// Connected sockets by session token.
        var live: [String: Socket] = [:]
        /// A handful of loops: a linear search is the fastest lookup.
        var queues: [LoopQueue] = []
        /// With a store: whether this node reads the ordered log yet (its log covers offsets
        /// from `log.trimmedThrough` on only then).
        var logStarted = false
        /// With a store: recovered sockets whose client had events this node has not delivered
        /// yet (it came from a node ahead of this one), by socket id: events up to the offset
        /// are not written to them again.
        var ahead: [String: RecoveryOffset] = [:]
    }

    private let state: Mutex<State>
    private let ledger: Mutex<RetryLedger>

    /// - Parameters:
    ///   - settings: the server's recovery settings.
    ///   - namespace: the namespace's name (`/` by default).
    ///   - store: the cluster's store, or nil (the default) for this node's own log and sessions.
    init(settings: Server.ConnectionStateRecovery, namespace: String = "/", store: (any ClusterRecoveryStore)? = nil) {
        self.settings = settings
        self.namespace = namespace
        self.store = store
        state = Mutex(State(log: PacketLog(maxPackets: settings.maxPackets, maxBytes: settings.maxBytes, maxAge: settings.maxDisconnectionDuration),
                            sessions: SessionStore(window: settings.maxDisconnectionDuration, limit: settings.maxSessions)))
        ledger = Mutex(RetryLedger(maxAnswers: settings.maxRememberedAnswers, maxBytes: settings.maxRememberedAnswerBytes,
                                   window: settings.maxDisconnectionDuration, maxClients: settings.maxSessions))
    }

    // MARK: Emitting

    /// Numbers `envelope` (an encoded event without offset), keeps it, and writes it to the
    /// sockets `selection` picks in `rooms`. `spreadsArguments`: `data` is the argument list
    /// (``EncodedEnvelope/spreadsArguments``), for live Socket.IO targets. With a store, offsets are the store's: the event
    /// is written without one and not kept (this is how a node delivers while the store is
    /// unavailable, and what it delivers of another node's publication then).
    func emit(_ envelope: [UInt8], selection: BroadcastSelection, rooms: RoomStore, spreadsArguments: Bool = false) {
        deliver(envelope, selection: selection, rooms: rooms, numbering: store == nil ? .next : .none,
                spreadsArguments: spreadsArguments)
    }

    /// `socket.emit`: numbered and kept as a broadcast to the room named by the socket id.
    /// With a store it goes through the cluster's log (the only source of offsets), and is
    /// written without an offset when the store is unavailable. `spreadsArguments`: as for
    /// ``emit(_:selection:rooms:spreadsArguments:)`` (false by default: one value).
    func emitDirect(_ envelope: [UInt8], to id: String, rooms: RoomStore, spreadsArguments: Bool = false) {
        let selection = BroadcastSelection(namespace: namespace, rooms: [id])
        let encoded = EncodedEnvelope(unchecked: envelope, spreadsArguments: spreadsArguments)
        if appendToStore(ClusterOperation(selection: selection, action: .emit(encoded)), rooms: rooms) { return }
        emit(envelope, selection: selection, rooms: rooms, spreadsArguments: spreadsArguments)
    }

    /// Hands an operation to the cluster's ordered log: an emit then reaches this node's
    /// sockets from the log (``deliverOrdered(_:selection:offset:rooms:)``); if the store loses
    /// it in flight, it is written here without an offset.
    /// - Returns: false when there is no store, the operation is volatile, or the store cannot
    ///   take it now: the caller applies and publishes it as without a store.
    func appendToStore(_ operation: ClusterOperation, rooms: RoomStore) -> Bool {
        guard let store, !operation.flags.contains(.volatile), !operation.flags.contains(.local) else { return false }
        return store.append(operation) { [weak self] in
            guard let self, case .emit(let envelope) = operation.action else { return }
            self.deliver(envelope.bytes, selection: operation.selection, rooms: rooms, numbering: .none,
                         spreadsArguments: envelope.spreadsArguments)
        }
    }

    /// An emit of the cluster's ordered log, in log order: kept under `offset` and written
    /// with it. An offset not after the last one delivered is ignored (never delivered twice).
    func deliverOrdered(_ envelope: [UInt8], selection: BroadcastSelection, offset: RecoveryOffset, rooms: RoomStore,
                        spreadsArguments: Bool = false) {
        deliver(envelope, selection: selection, rooms: rooms, numbering: .given(offset), spreadsArguments: spreadsArguments)
    }

    /// The node reads the cluster's ordered log after `offset` from now on.
    func startLog(at offset: RecoveryOffset) {
        state.withLock { state in
            guard !state.logStarted else { return }
            state.logStarted = true
            state.log.start(at: offset)
        }
    }

    private enum Numbering {
        /// The next offset of this node's log (a single node).
        case next
        /// The offset the cluster's log gave.
        case given(RecoveryOffset)
        /// None: written, not kept.
        case none
    }

    private func deliver(_ envelope: [UInt8], selection: BroadcastSelection, rooms: RoomStore, numbering: Numbering,
                         spreadsArguments: Bool) {
        let now = ContinuousClock.now
        state.withLock { state in
            let offset: RecoveryOffset?
            switch numbering {
            case .next: offset = state.log.nextOffset
            case .given(let given):
                guard given > state.log.lastOffset else { return }
                offset = given
            case .none: offset = nil
            }
            let bytes = offset.map { EnvelopeCodec.appendingOffset($0.text(cluster: store != nil), to: envelope) } ?? envelope
            let frame = bytes.withUnsafeBytes { EncodedFrame(opcode: .text, payload: $0) }
            if let offset {
                state.log.append(selection: selection, frame: frame, size: bytes.count, now: now, offset: offset,
                                 spreadsArguments: spreadsArguments)
            }
            var sockets = rooms.sockets(selection)
            if let offset, !state.ahead.isEmpty {
                let ahead = state.ahead
                sockets.removeAll { ahead[$0.id].map { offset <= $0 } ?? false }
                state.ahead = ahead.filter { offset < $0.value }
            }
            guard !sockets.isEmpty else { return }
            var groups: [(queue: LoopQueue, connections: [WebSocket])] = []
            var socketIOTargets: [Socket] = []
            for socket in sockets {
                // Socket.IO clients get the event with its offset as the last argument, below.
                guard let connection = socket.envelopeConnection else {
                    socketIOTargets.append(socket)
                    continue
                }
                let loop = connection.loop
                if let index = groups.firstIndex(where: { $0.queue.loop === loop }) {
                    groups[index].connections.append(connection)
                    continue
                }
                let queue = Self.queue(for: loop, in: &state.queues)
                // On the loop's own thread with nothing queued before: written at once.
                if loop.inEventLoop && queue.pending.load(ordering: .relaxed) == 0 {
                    connection.send(frame)
                    continue
                }
                groups.append((queue, [connection]))
            }
            for (queue, connections) in groups {
                queue.pending.add(1, ordering: .relaxed)
                queue.loop.execute {
                    for connection in connections { connection.send(frame) }
                    queue.pending.subtract(1, ordering: .relaxed)
                }
            }
            if !socketIOTargets.isEmpty {
                SocketIOConnection.deliver(bytes, to: socketIOTargets, namespace: selection.namespace, volatile: false,
                                           spreadsArguments: spreadsArguments, handOff: true)
            }
        }
    }

    private static func queue(for loop: EventLoop, in queues: inout [LoopQueue]) -> LoopQueue {
        if let queue = queues.first(where: { $0.loop === loop }) { return queue }
        let queue = LoopQueue(loop: loop)
        queues.append(queue)
        return queue
    }

    // MARK: Sessions

    /// What a client asking for recovery gets when it connects, before middleware: the session
    /// of its token (taken out of the store: no other connection can have it), or why not.
    /// A socket still connected with that token (its connection lost, but not noticed yet)
    /// hands its session over at once and is ended (`transport close`): the newer connection
    /// wins. With a cluster store, only such a socket is found here (see ``claimHere(token:offset:rooms:)``).
    func claim(token: String, offset text: String?, rooms: RoomStore) -> Result<RecoveryClaim, RecoveryFailure> {
        claimHere(token: token, offset: text, rooms: rooms) ?? .failure(.unknownSession)
    }

    /// ``claim(token:offset:rooms:)`` on this node; nil when a cluster store must be asked (no
    /// socket of this node has the token).
    func claimHere(token: String, offset text: String?, rooms: RoomStore) -> Result<RecoveryClaim, RecoveryFailure>? {
        let now = ContinuousClock.now
        let (result, replaced) = state.withLock { state -> (Result<RecoveryClaim, RecoveryFailure>?, Socket?) in
            state.log.trim(now: now)
            let taken: Result<SessionStore.Session, RecoveryFailure>
            var replaced: Socket?
            if let connected = state.live.removeValue(forKey: token) {
                replaced = connected
                var kept = rooms.rooms(of: connected.id)
                kept.remove(connected.id)
                taken = .success(SessionStore.Session(token: token, id: connected.id, rooms: kept, data: connected.data, disconnected: now))
            } else if store != nil {
                return (nil, nil)
            } else {
                taken = state.sessions.take(token, now: now)
            }
            switch taken {
            case .failure(let failure):
                return (.failure(failure), replaced)
            case .success(let session):
                guard let text, let offset = RecoveryOffset(text), Self.covers(offset, state, cluster: store != nil) else {
                    return (.failure(.packetsNotKept), replaced)
                }
                return (.success(RecoveryClaim(session: session, offset: offset)), replaced)
            }
        }
        replaced?.endReplaced()
        return result
    }

    /// Whether this node's log has every kept event after `offset` (with a store: from there
    /// on, the events not delivered yet arriving later).
    func coversLocally(_ offset: RecoveryOffset) -> Bool {
        state.withLock { Self.covers(offset, $0, cluster: store != nil) }
    }

    private static func covers(_ offset: RecoveryOffset, _ state: State, cluster: Bool) -> Bool {
        cluster ? state.logStarted && offset >= state.log.trimmedThrough : state.log.packets(after: offset) != nil
    }

    /// Accepts `socket` (on its loop): registers it (restoring its rooms when its claim still
    /// holds), sends `connect` with `connectData` (a JSON object without its closing brace)
    /// completed by the recovery fields, then the replay: the events the claim fetched from the
    /// cluster's store, if any, then those of this node's log after them.
    func accept(_ socket: Socket, _ recovery: SocketRecovery, connectData: [UInt8], rooms: RoomStore) {
        let now = ContinuousClock.now
        var data = connectData
        if let key = recovery.dedupeKey { ledger.withLock { $0.joined(key, now: now) } }
        state.withLock { state in
            state.log.trim(now: now)
            var replay: [PacketLog.Packet] = []
            var failure: RecoveryFailure?
            var restoredRooms: Set<String> = []
            switch recovery.claim {
            case .success(let claim)?:
                // What the client has, with the fetched events: everything up to `known`.
                let fetched = claim.fetched ?? []
                let known = fetched.last?.offset ?? claim.offset
                if store != nil && known > state.log.lastOffset && (claim.fetched != nil || state.logStarted) {
                    // From a node ahead of this one: the events up to `known` will come here
                    // later, and must not reach this socket twice.
                    replay = fetched
                    restoredRooms = claim.session.rooms
                    state.ahead[socket.id] = known
                } else if let missed = state.log.packets(after: known) {
                    replay = fetched + missed
                    restoredRooms = claim.session.rooms
                } else {
                    failure = .packetsNotKept
                }
            case .failure(let reason)?: failure = reason
            case nil: break
            }
            let recovered = recovery.claim != nil && failure == nil
            recovery.recovered.store(recovered, ordering: .releasing)
            rooms.add(socket)
            if !restoredRooms.isEmpty { rooms.join(socket.id, restoredRooms) }
            state.live[recovery.token] = socket
            data += Array(#","token":"#.utf8)
            EnvelopeCodec.appendJSONString(recovery.token, to: &data)
            data += Array(#","recovered":\#(recovered)"#.utf8)
            if let failure {
                data += Array(#","reason":"#.utf8)
                EnvelopeCodec.appendJSONString(failure.rawValue, to: &data)
            }
            data.append(UInt8(ascii: "}"))
            // A recovered client keeps its own offset: the replay continues from it.
            let connect = EnvelopeCodec.encode(.event(name: "connect", data: RawJSON(unchecked: data), id: nil),
                                               offset: recovered ? nil : state.log.lastOffset.text(cluster: store != nil))
            guard let connection = socket.envelopeConnection else {
                if case .socketIO(let connection) = socket.link {
                    let missed = replay.filter { $0.selection.matches(id: socket.id, rooms: restoredRooms) }
                    connection.accepted(socket, pid: recovery.token, offset: recovered ? nil : state.log.lastOffset.text(cluster: store != nil), replay: missed)
                }
                return
            }
            connection.send(textUTF8: connect)
            for packet in replay where packet.selection.matches(id: socket.id, rooms: restoredRooms) {
                connection.send(packet.frame)
            }
        }
    }

    /// `socket` ended: its session is kept for recovery when `reason` is a lost connection (as
    /// Socket.IO: not when the client or the server disconnected on purpose), in the cluster's
    /// store when there is one. Call before it leaves its rooms.
    func ended(_ socket: Socket, _ recovery: SocketRecovery, reason: DisconnectReason, rooms: RoomStore) {
        let now = ContinuousClock.now
        let keep: Bool
        switch reason {
        case .transportClose, .transportError, .pingTimeout, .serverShuttingDown: keep = true
        default: keep = false
        }
        let saved = state.withLock { state -> SessionStore.Session? in
            state.sessions.forget(now: now)
            state.ahead[socket.id] = nil
            // A socket whose session a newer connection took over keeps nothing.
            guard state.live[recovery.token] === socket else { return nil }
            state.live[recovery.token] = nil
            guard keep else { return nil }
            var kept = rooms.rooms(of: socket.id)
            kept.remove(socket.id)
            let session = SessionStore.Session(token: recovery.token, id: socket.id, rooms: kept, data: socket.data, disconnected: now)
            if store == nil { state.sessions.save(session) }
            return session
        }
        if let saved, let store { store.saveSession(clusterSession(saved), expiry: settings.maxDisconnectionDuration) }
        if let key = recovery.dedupeKey { ledger.withLock { $0.left(key, now: now) } }
    }

    /// With a store: saves the session of every connected socket to it, as lost now (the
    /// server shuts down and is about to close them), and calls `completion` once stored.
    /// Without one, calls it at once.
    func saveLiveSessions(rooms: RoomStore, completion: @escaping @Sendable () -> Void) {
        guard let store else { return completion() }
        let now = ContinuousClock.now
        let sessions = state.withLock { state in
            state.live.map { token, socket in
                var kept = rooms.rooms(of: socket.id)
                kept.remove(socket.id)
                return SessionStore.Session(token: token, id: socket.id, rooms: kept, data: socket.data, disconnected: now)
            }
        }
        store.saveSessions(sessions.map(clusterSession), expiry: settings.maxDisconnectionDuration, completion: completion)
    }

    // MARK: Deduplication

    /// An event asking for an acknowledgement `id` arrived from the client with `key`: run it,
    /// answer it again, or wait for the answer still being made.
    func begin(dedupeKey key: String, id: UInt64, socket: Socket) -> RetryLedger.Begin {
        ledger.withLock { $0.begin(key, id: id, socket: socket) }
    }

    /// The answer to `id` of `key` was made: remember it.
    /// - Returns: the other sockets waiting for it (the same client, reconnected meanwhile).
    func answered(dedupeKey key: String, id: UInt64, bytes: [UInt8]) -> [Socket] {
        ledger.withLock { $0.answered(key, id: id, bytes: bytes) }
    }

    // MARK: Measures (tests)

    /// Events kept and their bytes.
    var logSize: (count: Int, bytes: Int) { state.withLock { ($0.log.count, $0.log.bytes) } }
}

/// A session taken for a connecting client, the offset it said it had, and the events after
/// that offset fetched from the cluster's store when this node's log does not reach back to it.
struct RecoveryClaim: Sendable {
    var session: SessionStore.Session
    var offset: RecoveryOffset
    /// In log order, emits only; nil: none fetched (this node's log has them).
    var fetched: [PacketLog.Packet]?

    init(session: SessionStore.Session, offset: RecoveryOffset, fetched: [PacketLog.Packet]? = nil) {
        self.session = session
        self.offset = offset
        self.fetched = fetched
    }
}

/// What a socket of a namespace with recovery carries: its session token, what it asked for
/// when it connected, and whether it was recovered.
final class SocketRecovery: Sendable {
    /// The session token (the same across recoveries).
    let token: String
    /// The session claimed for it; nil when the client did not ask for recovery.
    let claim: Result<RecoveryClaim, RecoveryFailure>?
    /// The client's deduplication key (Protocol.md 5.6), when deduplication is on.
    let dedupeKey: String?
    let recovered = Atomic<Bool>(false)

    init(claim: Result<RecoveryClaim, RecoveryFailure>?, dedupeKey: String?) {
        self.claim = claim
        self.dedupeKey = dedupeKey
        if case .success(let claim)? = claim { token = claim.session.token } else { token = RandomID().description }
    }

    /// The socket id of the claimed session, if any.
    var restoredID: String? {
        if case .success(let claim)? = claim { return claim.session.id }
        return nil
    }
}
