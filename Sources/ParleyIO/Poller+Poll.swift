import CParleySystem

extension Poller {
    /// POSIX `poll(2)`: the registrations are a dense `pollfd` array kept here (swap-remove, so
    /// add, modify and remove cost O(1)), passed whole to every wait.
    ///
    /// A class: the arrays grow and shrink in place, and the ``Poller`` enum holding it is
    /// copied freely. Loop-confined, like the loop that owns it.
    package final class Poll {
        /// The `pollfd` entries, `count` of them in use.
        private var entries: UnsafeMutablePointer<pollfd>
        /// `tokens[i]` is the token of `entries[i]`.
        private var tokens: UnsafeMutablePointer<UInt64>
        private var capacity: Int
        private var count = 0
        /// Index in `entries` by descriptor; -1 when not registered.
        private var slots: [Int32] = []
        /// Where the next wait starts reporting (see `cps_poll_wait`): fairness when more
        /// descriptors are ready than one wait returns.
        private var cursor: Int32 = 0

        init() {
            capacity = 64
            entries = .allocate(capacity: capacity)
            tokens = .allocate(capacity: capacity)
        }

        deinit {
            entries.deallocate()
            tokens.deallocate()
        }

        func register(_ fd: Int32, interest: IOEvents, token: UInt64) -> Int32 {
            guard fd >= 0 else { return EBADF }
            let index = Int(fd)
            if index >= slots.count {
                slots.append(contentsOf: repeatElement(-1, count: max(index + 1 - slots.count, slots.count)))
            }
            guard slots[index] < 0 else { return EEXIST }
            if count == capacity { grow() }
            entries[count] = pollfd(fd: fd, events: cps_poll_interest(interest.rawValue), revents: 0)
            tokens[count] = token
            slots[index] = Int32(count)
            count += 1
            return 0
        }

        func modify(_ fd: Int32, interest: IOEvents, token: UInt64) {
            guard Int(fd) < slots.count, fd >= 0 else { return }
            let slot = Int(slots[Int(fd)])
            guard slot >= 0 else { return }
            entries[slot].events = cps_poll_interest(interest.rawValue)
            tokens[slot] = token
        }

        func deregister(_ fd: Int32) {
            guard Int(fd) < slots.count, fd >= 0 else { return }
            let slot = Int(slots[Int(fd)])
            guard slot >= 0 else { return }
            slots[Int(fd)] = -1
            count -= 1
            if slot != count {
                entries[slot] = entries[count]
                tokens[slot] = tokens[count]
                slots[Int(entries[slot].fd)] = Int32(slot)
            }
        }

        func wait(into events: UnsafeMutablePointer<cps_event>, capacity: Int, timeoutMilliseconds: Int32) -> Int32 {
            cps_poll_wait(entries, tokens, Int32(count), &cursor, events, Int32(min(capacity, Poller.maxEvents)), timeoutMilliseconds)
        }

        private func grow() {
            let larger = capacity * 2
            let newEntries = UnsafeMutablePointer<pollfd>.allocate(capacity: larger)
            let newTokens = UnsafeMutablePointer<UInt64>.allocate(capacity: larger)
            newEntries.moveInitialize(from: entries, count: count)
            newTokens.moveInitialize(from: tokens, count: count)
            entries.deallocate()
            tokens.deallocate()
            entries = newEntries
            tokens = newTokens
            capacity = larger
        }
    }
}
