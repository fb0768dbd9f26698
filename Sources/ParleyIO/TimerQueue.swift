/// The identity of a scheduled timer, for cancelling it.
public struct TimerID: Hashable, Sendable {
    package let value: UInt64
}

/// Timers of one event loop: a binary min-heap of deadlines with lazy cancellation. Pure: the
/// loop passes `now`, so tests drive it with any clock.
struct TimerQueue {
    private struct Entry {
        var deadline: UInt64
        var id: UInt64
    }

    private var heap: [Entry] = []
    private var callbacks: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 1

    package var isEmpty: Bool { callbacks.isEmpty }

    package mutating func schedule(at deadline: UInt64, _ body: @escaping () -> Void) -> TimerID {
        let id = nextID
        nextID += 1
        callbacks[id] = body
        heap.append(Entry(deadline: deadline, id: id))
        siftUp(heap.count - 1)
        return TimerID(value: id)
    }

    package mutating func cancel(_ timer: TimerID) {
        callbacks[timer.value] = nil
        // Cancelled entries stay in the heap until they reach the top; compact when they dominate.
        if heap.count > 64 && heap.count > 4 * callbacks.count {
            heap.removeAll { callbacks[$0.id] == nil }
            heap.sort { $0.deadline < $1.deadline }  // a sorted array is a valid heap
        }
    }

    /// The earliest live deadline, if any.
    package mutating func nextDeadline() -> UInt64? {
        while let top = heap.first {
            if callbacks[top.id] != nil { return top.deadline }
            popTop()
        }
        return nil
    }

    /// Removes and returns the callbacks whose deadline is at or before `now`, earliest first.
    package mutating func popExpired(now: UInt64) -> [() -> Void] {
        var due: [() -> Void] = []
        while let top = heap.first, top.deadline <= now {
            popTop()
            if let body = callbacks.removeValue(forKey: top.id) { due.append(body) }
        }
        return due
    }

    private mutating func popTop() {
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            var smallest = left
            if left + 1 < heap.count && heap[left + 1].deadline < heap[left].deadline { smallest = left + 1 }
            guard heap[smallest].deadline < heap[parent].deadline else { return }
            heap.swapAt(smallest, parent)
            parent = smallest
        }
    }
}
