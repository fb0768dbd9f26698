/// Something an ``EventLoop`` deadline calls back (see ``EventLoop/setDeadline(after:for:)``):
/// a connection's ping, pong and close deadlines, a handshake's time limit.
package protocol DeadlineTarget: AnyObject {
    /// The deadline `deadline` has come. Called on the loop thread, once; the loop has let go
    /// of the target already, so setting another deadline from here is fine.
    func deadlineReached(_ deadline: Deadline)
}

/// A deadline set with ``EventLoop/setDeadline(after:for:)``: for cancelling it, and for the
/// target to tell its deadlines apart. ``none`` is never set.
package struct Deadline: Hashable, Sendable {
    package let raw: UInt64

    /// No deadline.
    package static let none = Deadline(raw: 0)
}

/// The deadlines of one fixed delay, in the order they were set, hence in deadline order: a
/// ring of (target, deadline) entries, 16 bytes per live deadline and no allocation per
/// deadline. Setting one is an append, the earliest is at the head, and cancelling clears its
/// entry in place (the target is released at once; the empty slot leaves when it reaches the
/// head, at most `delay` later).
///
/// A server's connections all wait with a few delays (ping interval, ping timeout, close
/// timeout, handshake timeout), so one queue per delay replaces a timer, a closure and a
/// heap entry per connection. Pure: the loop passes `now`, so tests drive it with any clock.
struct DeadlineQueue {
    /// The target is kept as a plain reference (8 bytes, not a 16-byte existential) and its
    /// conformance looked up again when the deadline fires: rare next to the bytes it saves.
    private struct Entry {
        var target: AnyObject?
        var deadline: UInt64
    }

    /// The delay of every deadline of this queue, in nanoseconds.
    var delay: UInt64
    /// Ring storage: `count` entries from `head`, wrapping. It grows by half (not double: at
    /// 10,000 deadlines a doubled ring could leave 160 KB unused).
    private var ring: [Entry] = []
    private var head = 0
    private(set) var count = 0
    /// Sequence number of the entry at `head`; entries are numbered in the order they were set.
    private var headSequence: UInt64 = 0

    /// Ring size kept however few deadlines are set: 64 entries, 1 KiB.
    static let minimumRingSize = 64

    init(delay: UInt64) {
        self.delay = delay
    }

    /// Whether no deadline is set (cancelled slots may remain until they reach the head).
    var isEmpty: Bool { count == 0 }

    /// Sets a deadline `delay` after `now`; returns its sequence number.
    mutating func append(_ target: any DeadlineTarget, now: UInt64) -> UInt64 {
        if count == ring.count { grow() }
        ring[slot(count)] = Entry(target: target, deadline: now &+ delay)
        count += 1
        return headSequence &+ UInt64(count - 1)
    }

    /// Clears the deadline `sequence` if it is still set.
    mutating func cancel(_ sequence: UInt64) {
        let offset = sequence &- headSequence
        guard offset < UInt64(count) else { return }
        ring[slot(Int(offset))].target = nil
        dropCancelledHead()
    }

    /// The earliest deadline set, if any.
    var nextDeadline: UInt64? {
        count == 0 ? nil : ring[head].deadline
    }

    /// Removes the deadlines at or before `now`, earliest first, into `due`: each target with
    /// its sequence number ORed with `tag`.
    mutating func popDue(now: UInt64, tag: UInt64, into due: inout [(target: any DeadlineTarget, raw: UInt64)]) {
        while count > 0, ring[head].deadline <= now {
            if let target = ring[head].target as? any DeadlineTarget { due.append((target, tag | headSequence)) }
            removeHead()
        }
        dropCancelledHead()
        if ring.count > Self.minimumRingSize && count < ring.count / 8 { resize(to: max(Self.minimumRingSize, ring.count / 4)) }
    }

    /// Cancelled entries at the head leave at once, so that ``nextDeadline`` is a live one.
    private mutating func dropCancelledHead() {
        while count > 0, ring[head].target == nil { removeHead() }
    }

    private mutating func removeHead() {
        ring[head].target = nil
        head = slot(1)
        headSequence &+= 1
        count -= 1
    }

    /// The ring index of the entry `offset` places after the head (`offset` < `ring.count`).
    @inline(__always)
    private func slot(_ offset: Int) -> Int {
        let index = head + offset
        return index < ring.count ? index : index - ring.count
    }

    private mutating func grow() {
        resize(to: max(Self.minimumRingSize, ring.count + ring.count / 2))
    }

    /// Copies the live region to a ring of `size` entries (at least `count`), starting at 0.
    private mutating func resize(to size: Int) {
        var resized = [Entry](repeating: Entry(target: nil, deadline: 0), count: size)
        for index in 0..<count { resized[index] = ring[slot(index)] }
        ring = resized
        head = 0
    }
}
