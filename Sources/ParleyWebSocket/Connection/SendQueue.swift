@_spi(IO) import ParleyIO

/// A connection's outgoing chunks, in order: the first held inline, the others in an array.
/// An empty queue, or one chunk (the usual case: the frames of a loop iteration packed into
/// one), holds no array, so an idle connection keeps no queue storage.
struct SendQueue {
    private(set) var first: ByteChunk?
    /// The chunks after `first`; its storage is kept once used (a busy connection does not
    /// allocate per flush) and freed by ``removeAll()``.
    private var rest: [ByteChunk] = []

    var isEmpty: Bool { first == nil }
    var count: Int { first == nil ? 0 : 1 + rest.count }
    var last: ByteChunk? { rest.last ?? first }

    mutating func append(_ chunk: ByteChunk) {
        if first == nil { first = chunk } else { rest.append(chunk) }
    }

    /// Calls `body` with the first `limit` chunks at most, in order.
    func forEach(limit: Int, _ body: (ByteChunk) -> Void) {
        guard let first else { return }
        body(first)
        for chunk in rest.prefix(limit - 1) { body(chunk) }
    }

    /// Removes the first `n` chunks (at most all), handing each to `release` in place, so that
    /// it can check the chunk is no one else's (`isKnownUniquelyReferenced`) before reusing it.
    mutating func removeFirst(_ n: Int, _ release: (inout ByteChunk) -> Void) {
        guard n > 0, var head = first else { return }
        first = nil
        release(&head)
        let fromRest = min(n - 1, rest.count)
        for index in 0..<fromRest { release(&rest[index]) }
        if fromRest < rest.count {
            first = rest[fromRest]
            rest.removeFirst(fromRest + 1)
        } else if !rest.isEmpty {
            rest.removeAll(keepingCapacity: true)
        }
    }

    /// Drops every chunk after the first (which may be partly written).
    mutating func keepFirstOnly() {
        rest = []
    }

    /// Drops every chunk and frees the array storage.
    mutating func removeAll() {
        first = nil
        rest = []
    }
}
