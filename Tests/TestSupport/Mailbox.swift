import Foundation
import Synchronization
import XCTest

// Shared by the test targets: what callbacks (loop callbacks, client and server handlers) post
// and the tests await, with a timeout: never a sleep.

/// How long a test waits for something that should happen at once.
public let eventTimeout: Duration = .seconds(5)

/// A thread-safe queue that callbacks post to and tests take from, in order or by predicate.
///
/// `take(where:)` removes the *first* element that matches and leaves the others queued, so a
/// test can wait for one event while others pile up. After ``finish()`` (the connection is
/// gone) a take that finds nothing returns at once instead of waiting for its timeout.
public final class Mailbox<Element: Sendable>: Sendable {
    private struct Waiter {
        var id: UInt64
        var matches: @Sendable (Element) -> Bool
        var continuation: CheckedContinuation<Element?, Never>
    }

    private struct State {
        var items: [Element] = []
        /// Index of the first live element of `items` (taking from the front is O(1)).
        var head = 0
        var waiters: [Waiter] = []
        var finished = false
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Posts an element: to the oldest waiter it matches, else to the queue. Any thread.
    public func put(_ element: Element) {
        let waiter = state.withLock { state -> Waiter? in
            if let index = state.waiters.firstIndex(where: { $0.matches(element) }) {
                return state.waiters.remove(at: index)
            }
            state.items.append(element)
            return nil
        }
        waiter?.continuation.resume(returning: element)
    }

    /// No more elements will come: waiters and later takes that find nothing get nil at once.
    public func finish() {
        let waiters = state.withLock { state -> [Waiter] in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
    }

    /// Elements posted and not taken yet, oldest first.
    public var pending: [Element] { state.withLock { Array($0.items[$0.head...]) } }

    /// Removes and returns the first element matching `matches`, waiting up to `timeout` for it.
    /// - Returns: the element, or nil after `timeout` (or at once when finished).
    public func take(timeout: Duration = eventTimeout, where matches: @escaping @Sendable (Element) -> Bool = { _ in true }) async -> Element? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
            let id = state.withLock { state -> UInt64? in
                if let index = state.items[state.head...].firstIndex(where: matches) {
                    continuation.resume(returning: Self.remove(at: index, from: &state))
                    return nil
                }
                if state.finished {
                    continuation.resume(returning: nil)
                    return nil
                }
                state.nextID += 1
                state.waiters.append(Waiter(id: state.nextID, matches: matches, continuation: continuation))
                return state.nextID
            }
            guard let id else { return }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout.seconds) { [self] in expire(id) }
        }
    }

    private static func remove(at index: Int, from state: inout State) -> Element {
        guard index == state.head else { return state.items.remove(at: index) }
        let element = state.items[index]
        state.head += 1
        if state.head == state.items.count {
            state.items.removeAll(keepingCapacity: true)
            state.head = 0
        } else if state.head >= 4096 && state.head * 2 >= state.items.count {
            state.items.removeFirst(state.head)
            state.head = 0
        }
        return element
    }

    private func expire(_ id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(returning: nil)
    }
}

extension Mailbox {
    /// The first element matching `matches`; fails the test (and throws) when none comes in time.
    public func expect(_ what: @autoclosure () -> String, timeout: Duration = eventTimeout,
                file: StaticString = #filePath, line: UInt = #line,
                where matches: @escaping @Sendable (Element) -> Bool = { _ in true }) async throws -> Element {
        let element = await take(timeout: timeout, where: matches)
        return try XCTUnwrap(element, "timed out after \(timeout) waiting for \(what())", file: file, line: line)
    }
}

/// A value behind a lock, shareable with loop callbacks.
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: Value) { mutex = Mutex(value) }

    @discardableResult
    public func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T {
        mutex.withLock { body(&$0) }
    }

    public var value: Value { mutex.withLock { $0 } }
}

extension Duration {
    /// The duration in seconds, for Dispatch deadlines and messages.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Seconds elapsed since `start`, for asserting how long something took.
public func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    (ContinuousClock.now - start).seconds
}
