import ParleyWebSocket

/// The events of one namespace kept for connection state recovery, oldest first, each with its
/// offset (1, 2, 3, ... on a single server; the ids a ``ClusterRecoveryStore`` gave, increasing,
/// in a cluster), the selection it was sent to and its encoded frame: the same frame the
/// live targets got, sent again as is to a recovering client. A value without I/O or locks.
///
/// Bounded three ways: at most `maxPackets` events, `maxBytes` bytes of envelopes, none older
/// than `maxAge`. Offsets dropped from the front are remembered as ``trimmedThrough``, so a
/// request for events after an offset that is gone is refused, never answered in part.
///
/// ```swift
/// var log = PacketLog(maxPackets: 2, maxBytes: 1 << 20, maxAge: .seconds(120))
/// log.append(selection: everyone, frame: frame, size: 40, now: .now)   // offset 1
/// log.packets(after: 0)   // [packet 1]
/// ```
struct PacketLog {
    /// One kept event.
    struct Packet: Sendable {
        var offset: RecoveryOffset
        var selection: BroadcastSelection
        var frame: EncodedFrame
        /// Bytes of the envelope (the frame's payload).
        var size: Int
        var time: ContinuousClock.Instant
        /// The envelope's `data` is the event's argument list (``EncodedEnvelope/spreadsArguments``):
        /// a Socket.IO client gets the arguments one by one, in a replay as live.
        var spreadsArguments = false
    }

    let maxPackets: Int
    let maxBytes: Int
    let maxAge: Duration

    /// Kept events: `packets[head...]`, oldest first.
    private var packets: [Packet] = []
    private var head = 0
    /// The offset of the last event appended (0: none yet, or where the log started).
    private(set) var lastOffset: RecoveryOffset = 0
    /// Every offset up to this one has been dropped, or was before the log started (0: none).
    private(set) var trimmedThrough: RecoveryOffset = 0
    /// Bytes of the kept envelopes.
    private(set) var bytes = 0

    init(maxPackets: Int, maxBytes: Int, maxAge: Duration) {
        self.maxPackets = max(1, maxPackets)
        self.maxBytes = max(1, maxBytes)
        self.maxAge = maxAge
    }

    /// Events kept.
    var count: Int { packets.count - head }

    /// The offset the next event gets on a single server.
    var nextOffset: RecoveryOffset { lastOffset.next }

    /// Starts an empty log at `offset`: the events up to it were never seen here (a node
    /// joining a cluster's stream there), so a request for events after an earlier offset is
    /// refused. Does nothing once an event was appended.
    mutating func start(at offset: RecoveryOffset) {
        guard packets.isEmpty, lastOffset == 0 else { return }
        lastOffset = offset
        trimmedThrough = offset
    }

    /// Keeps an event under `offset` (``nextOffset`` by default; a given one must be greater
    /// than ``lastOffset``), then drops the oldest while a bound is exceeded (an event larger
    /// than `maxBytes` is dropped at once: it is still numbered, so a client that missed it
    /// cannot recover). `spreadsArguments`: see ``Packet/spreadsArguments`` (false by default:
    /// one value as `data`).
    mutating func append(selection: BroadcastSelection, frame: EncodedFrame, size: Int, now: ContinuousClock.Instant,
                         offset: RecoveryOffset? = nil, spreadsArguments: Bool = false) {
        lastOffset = offset ?? lastOffset.next
        packets.append(Packet(offset: lastOffset, selection: selection, frame: frame, size: size, time: now,
                              spreadsArguments: spreadsArguments))
        bytes += size
        while count > 0 && (count > maxPackets || bytes > maxBytes) { dropFirst() }
        trim(now: now)
    }

    /// Drops the events older than `maxAge`.
    mutating func trim(now: ContinuousClock.Instant) {
        while head < packets.count && now - packets[head].time > maxAge { dropFirst() }
    }

    /// The kept events after `offset`, oldest first; nil when some of them are gone (dropped,
    /// or `offset` is not one this log gave out).
    func packets(after offset: RecoveryOffset) -> ArraySlice<Packet>? {
        guard offset >= trimmedThrough, offset <= lastOffset else { return nil }
        // Offsets increase: the first kept after `offset` is found by bisection.
        var low = head
        var high = packets.count
        while low < high {
            let middle = (low + high) / 2
            if packets[middle].offset <= offset { low = middle + 1 } else { high = middle }
        }
        return packets[low...]
    }

    private mutating func dropFirst() {
        bytes -= packets[head].size
        trimmedThrough = packets[head].offset
        head += 1
        packets.compactConsumedPrefix(head: &head)
    }
}

extension BroadcastSelection {
    /// Whether this selection picks the socket `id` in `rooms` (the room named by its id
    /// included or not): by the rules ``RoomStore`` applies to connected sockets.
    func matches(id: String, rooms: Set<String>) -> Bool {
        if exceptSocket == id { return false }
        if exceptRooms.contains(id) || !exceptRooms.isDisjoint(with: rooms) { return false }
        return self.rooms.isEmpty || self.rooms.contains(id) || !self.rooms.isDisjoint(with: rooms)
    }
}
