/// The emits of a ``Client`` that wait for a connection (the offline buffer) and the
/// acknowledgements it waits for (the ack table), as a value without I/O.
///
/// **Buffer policy.** The buffer holds at most `limit` emits and `byteLimit` bytes of encoded
/// envelopes. An emit that would exceed either drops the *oldest* buffered emits until it fits
/// (it is always kept itself): after a long outage the newest state matters most. Dropped
/// emits are returned, so the client fails their acknowledgements and reports the count.
///
/// **Acks.** Each emit that asks for an acknowledgement gets the next id (1, 2, 3, ...: one
/// sequence per client, across connections) and a waiter. A waiter leaves the table exactly
/// once: answered, expired, dropped from the buffer, or failed when its connection is lost. An
/// expired ack whose emit is still buffered leaves the buffer too: it is never sent.
///
/// ```swift
/// var outbox = Outbox<String>(limit: 2, byteLimit: 1 << 20, maxPendingAcks: 16)
/// let id = outbox.expectAck(event: "add", waiter: "caller A")
/// _ = outbox.buffer(Outbox.Message(event: "add", ackID: id, bytes: bytes))
/// let toSend = outbox.takeBuffered()          // on reconnection, oldest first
/// let waiter = outbox.answer(id!)             // "caller A"
/// ```
struct Outbox<Waiter> {
    /// One encoded envelope.
    struct Message: Equatable, Sendable {
        var event: String
        /// The acknowledgement id the envelope carries, if it asks for one.
        var ackID: UInt64?
        /// The encoded envelope, ready to send as a text frame.
        var bytes: [UInt8]
        /// Binary frames sent right after `bytes` (Socket.IO attachments); empty for an envelope.
        var attachments: [[UInt8]] = []

        /// The bytes the message holds, counted against ``Outbox/byteLimit``.
        var size: Int { attachments.reduce(bytes.count) { $0 + $1.count } }
    }

    private struct Pending {
        var event: String
        var waiter: Waiter
        /// Written to a connection: if that connection is lost, the answer can never come.
        var sent = false
        /// The emit, kept to send again while ``retriesLeft`` allows (see ``Client/Options/retries``).
        var retry: Message?
        var retriesLeft = 0
    }

    /// Most emits buffered.
    let limit: Int
    /// Most bytes buffered.
    let byteLimit: Int
    /// Most acknowledgements awaited at once.
    let maxPendingAcks: Int

    /// Buffered emits, oldest first.
    private(set) var buffered: [Message] = []
    /// Bytes of ``buffered``.
    private(set) var bufferedBytes = 0
    private var pending: [UInt64: Pending] = [:]
    private var lastID: UInt64 = 0

    init(limit: Int, byteLimit: Int, maxPendingAcks: Int) {
        self.limit = max(1, limit)
        self.byteLimit = byteLimit
        self.maxPendingAcks = maxPendingAcks
    }

    /// Acknowledgements awaited.
    var pendingCount: Int { pending.count }

    /// Whether an acknowledgement with this id is still awaited.
    func isAwaiting(_ id: UInt64) -> Bool { pending[id] != nil }

    /// Takes the next ack id and records who waits for it.
    /// - Returns: the id, or nil when ``maxPendingAcks`` are already awaited.
    mutating func expectAck(event: String, waiter: Waiter) -> UInt64? {
        guard pending.count < maxPendingAcks else { return nil }
        lastID += 1
        pending[lastID] = Pending(event: event, waiter: waiter)
        return lastID
    }

    /// Keeps `message` (carrying `id`) to send again up to `retries` times: after its connection
    /// is lost (``takeSentWaiters()``) or when an answer does not come in time (``retry(_:)``).
    mutating func keepForRetry(_ id: UInt64, _ message: Message, retries: Int) {
        guard retries > 0 else { return }
        pending[id]?.retry = message
        pending[id]?.retriesLeft = retries
    }

    /// The answer to `id` did not come in time: if it may be sent again, counts one retry.
    /// - Returns: the emit to send again now (nil when it waits in the buffer, sent again with
    ///   it), or nil with `false` when no retry is left.
    mutating func retry(_ id: UInt64) -> (retrying: Bool, message: Message?) {
        guard var entry = pending[id], entry.retriesLeft > 0, let message = entry.retry else { return (false, nil) }
        entry.retriesLeft -= 1
        pending[id] = entry
        return (true, entry.sent ? message : nil)
    }

    /// The emit carrying `id` was written to a connection.
    mutating func markSent(_ id: UInt64) {
        pending[id]?.sent = true
    }

    /// Buffers `message`, dropping the oldest emits while it does not fit (see the type's policy).
    /// - Returns: the dropped emits, oldest first, each with its waiter if it asked for an ack.
    mutating func buffer(_ message: Message) -> [(message: Message, waiter: Waiter?)] {
        var dropCount = 0
        var bytes = bufferedBytes + message.size
        while dropCount < buffered.count && (buffered.count - dropCount + 1 > limit || bytes > byteLimit) {
            bytes -= buffered[dropCount].size
            dropCount += 1
        }
        let dropped = buffered.prefix(dropCount).map { old in
            (message: old, waiter: old.ackID.flatMap { pending.removeValue(forKey: $0)?.waiter })
        }
        buffered.removeFirst(dropCount)
        buffered.append(message)
        bufferedBytes = bytes
        return dropped
    }

    /// Empties the buffer for sending, oldest first, and marks the acks of those emits as sent.
    mutating func takeBuffered() -> [Message] {
        let taken = buffered
        buffered.removeAll()
        bufferedBytes = 0
        for message in taken {
            if let id = message.ackID { pending[id]?.sent = true }
        }
        return taken
    }

    /// The answer to `id` arrived.
    /// - Returns: its waiter, or nil when `id` is not awaited (never asked, answered, or expired).
    mutating func answer(_ id: UInt64) -> Waiter? {
        pending.removeValue(forKey: id)?.waiter
    }

    /// `id` will not be awaited any longer (its deadline passed, or its caller gave up). If its
    /// emit is still buffered, it leaves the buffer: it will never be sent.
    /// - Returns: its waiter and event name, or nil when `id` is not awaited.
    mutating func expire(_ id: UInt64) -> (waiter: Waiter, event: String)? {
        guard let entry = pending.removeValue(forKey: id) else { return nil }
        if !entry.sent, let index = buffered.firstIndex(where: { $0.ackID == id }) {
            bufferedBytes -= buffered[index].size
            buffered.remove(at: index)
        }
        return (entry.waiter, entry.event)
    }

    /// The connection was lost: the acks of emits written to it can never come. Emits still
    /// buffered keep waiting, and so do sent emits with a retry left: they count one and go
    /// back to the front of the buffer, in id order, to be sent again on the next connection.
    /// - Returns: the waiters of the sent emits given up, in id order.
    mutating func takeSentWaiters() -> [Waiter] {
        let sent = pending.filter { $0.value.sent }.sorted { $0.key < $1.key }
        var given: [Waiter] = []
        var again: [Message] = []
        for (id, entry) in sent {
            if let message = entry.retry, entry.retriesLeft > 0 {
                pending[id]?.retriesLeft -= 1
                pending[id]?.sent = false
                again.append(message)
            } else {
                pending[id] = nil
                given.append(entry.waiter)
            }
        }
        buffered.insert(contentsOf: again, at: 0)
        bufferedBytes += again.reduce(0) { $0 + $1.bytes.count }
        return given
    }

    /// Every waiter, in id order, and an empty outbox.
    mutating func takeAll() -> [Waiter] {
        let all = pending.sorted { $0.key < $1.key }.map(\.value.waiter)
        pending.removeAll()
        buffered.removeAll()
        bufferedBytes = 0
        return all
    }
}
