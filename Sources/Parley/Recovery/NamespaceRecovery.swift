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
final class NamespaceRecovery: Sendable {
    let settings: Server.ConnectionStateRecovery

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
    }

    private let state: Mutex<State>
    private let ledger: Mutex<RetryLedger>

    init(settings: Server.ConnectionStateRecovery) {
        self.settings = settings
        state = Mutex(State(log: PacketLog(maxPackets: settings.maxPackets, maxBytes: settings.maxBytes, maxAge: settings.maxDisconnectionDuration),
                            sessions: SessionStore(window: settings.maxDisconnectionDuration, limit: settings.maxSessions)))
        ledger = Mutex(RetryLedger(maxAnswers: settings.maxRememberedAnswers, maxBytes: settings.maxRememberedAnswerBytes,
                                   window: settings.maxDisconnectionDuration, maxClients: settings.maxSessions))
    }

    // MARK: Emitting

    /// Numbers `envelope` (an encoded event without offset), keeps it, and writes it to the
    /// sockets `selection` picks in `rooms`. `spreadsArguments`: `data` is the argument list
    /// (``EncodedEnvelope/spreadsArguments``), for live Socket.IO targets.
    func emit(_ envelope: [UInt8], selection: BroadcastSelection, rooms: RoomStore, spreadsArguments: Bool = false) {
        let now = ContinuousClock.now
        state.withLock { state in
            let offset = state.log.nextOffset
            let bytes = EnvelopeCodec.appendingOffset(String(offset), to: envelope)
            let frame = bytes.withUnsafeBytes { EncodedFrame(opcode: .text, payload: $0) }
            state.log.append(selection: selection, frame: frame, size: bytes.count, now: now)
            let sockets = rooms.sockets(selection)
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
    /// wins.
    func claim(token: String, offset text: String?, rooms: RoomStore) -> Result<RecoveryClaim, RecoveryFailure> {
        let now = ContinuousClock.now
        let (result, replaced) = state.withLock { state -> (Result<RecoveryClaim, RecoveryFailure>, Socket?) in
            state.log.trim(now: now)
            let taken: Result<SessionStore.Session, RecoveryFailure>
            var replaced: Socket?
            if let connected = state.live.removeValue(forKey: token) {
                replaced = connected
                var kept = rooms.rooms(of: connected.id)
                kept.remove(connected.id)
                taken = .success(SessionStore.Session(token: token, id: connected.id, rooms: kept, data: connected.data, disconnected: now))
            } else {
                taken = state.sessions.take(token, now: now)
            }
            switch taken {
            case .failure(let failure):
                return (.failure(failure), replaced)
            case .success(let session):
                guard let text, let offset = UInt64(text), state.log.packets(after: offset) != nil else { return (.failure(.packetsNotKept), replaced) }
                return (.success(RecoveryClaim(session: session, offset: offset)), replaced)
            }
        }
        replaced?.endReplaced()
        return result
    }

    /// Accepts `socket` (on its loop): registers it (restoring its rooms when its claim still
    /// holds), sends `connect` with `connectData` (a JSON object without its closing brace)
    /// completed by the recovery fields, then the replay.
    func accept(_ socket: Socket, _ recovery: SocketRecovery, connectData: [UInt8], rooms: RoomStore) {
        let now = ContinuousClock.now
        var data = connectData
        if let key = recovery.dedupeKey { ledger.withLock { $0.joined(key, now: now) } }
        state.withLock { state in
            state.log.trim(now: now)
            var replay: ArraySlice<PacketLog.Packet> = []
            var failure: RecoveryFailure?
            var restoredRooms: Set<String> = []
            switch recovery.claim {
            case .success(let claim)?:
                if let missed = state.log.packets(after: claim.offset) {
                    replay = missed
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
                                               offset: recovered ? nil : String(state.log.lastOffset))
            guard let connection = socket.envelopeConnection else {
                if case .socketIO(let connection) = socket.link {
                    let missed = replay.filter { $0.selection.matches(id: socket.id, rooms: restoredRooms) }.map(\.frame)
                    connection.accepted(socket, pid: recovery.token, offset: recovered ? nil : String(state.log.lastOffset), replay: missed)
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
    /// Socket.IO: not when the client or the server disconnected on purpose). Call before it
    /// leaves its rooms.
    func ended(_ socket: Socket, _ recovery: SocketRecovery, reason: DisconnectReason, rooms: RoomStore) {
        let now = ContinuousClock.now
        let keep: Bool
        switch reason {
        case .transportClose, .transportError, .pingTimeout, .serverShuttingDown: keep = true
        default: keep = false
        }
        state.withLock { state in
            state.sessions.forget(now: now)
            // A socket whose session a newer connection took over keeps nothing.
            guard state.live[recovery.token] === socket else { return }
            state.live[recovery.token] = nil
            guard keep else { return }
            var kept = rooms.rooms(of: socket.id)
            kept.remove(socket.id)
            state.sessions.save(SessionStore.Session(token: recovery.token, id: socket.id, rooms: kept, data: socket.data, disconnected: now))
        }
        if let key = recovery.dedupeKey { ledger.withLock { $0.left(key, now: now) } }
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

/// A session taken for a connecting client, and the offset it said it had.
struct RecoveryClaim: Sendable {
    var session: SessionStore.Session
    var offset: UInt64
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
        if case .success(let claim)? = claim { token = claim.session.token } else { token = Socket.randomID() }
    }

    /// The socket id of the claimed session, if any.
    var restoredID: String? {
        if case .success(let claim)? = claim { return claim.session.id }
        return nil
    }
}
