import Foundation
import Synchronization
import XCTest

// What callbacks (client handlers, server handlers) post and the tests await, with a timeout:
// never a sleep.

/// How long a test waits for something that should happen at once.
let eventTimeout: Duration = .seconds(5)

/// A thread-safe queue that callbacks post to and tests take from, in order or by predicate.
/// `take(where:)` removes the first matching element and leaves the others queued.
final class Inbox<Element: Sendable>: Sendable {
    private struct Waiter {
        var id: UInt64
        var matches: @Sendable (Element) -> Bool
        var continuation: CheckedContinuation<Element?, Never>
    }

    private struct State {
        var items: [Element] = []
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Posts an element to the oldest waiter it matches, else to the queue. Any thread.
    func put(_ element: Element) {
        let waiter = state.withLock { state -> Waiter? in
            if let index = state.waiters.firstIndex(where: { $0.matches(element) }) {
                return state.waiters.remove(at: index)
            }
            state.items.append(element)
            return nil
        }
        waiter?.continuation.resume(returning: element)
    }

    /// Elements posted and not taken yet, oldest first.
    var pending: [Element] { state.withLock { $0.items } }

    /// Removes and returns the first element matching `matches`, waiting up to `timeout`.
    /// - Returns: the element, or nil after `timeout`.
    func take(timeout: Duration = eventTimeout, where matches: @escaping @Sendable (Element) -> Bool = { _ in true }) async -> Element? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
            let id = state.withLock { state -> UInt64? in
                if let index = state.items.firstIndex(where: matches) {
                    continuation.resume(returning: state.items.remove(at: index))
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

    /// The first element matching `matches`; fails the test (and throws) when none comes in time.
    func expect(_ what: @autoclosure () -> String, timeout: Duration = eventTimeout,
                file: StaticString = #filePath, line: UInt = #line,
                where matches: @escaping @Sendable (Element) -> Bool = { _ in true }) async throws -> Element {
        let element = await take(timeout: timeout, where: matches)
        return try XCTUnwrap(element, "timed out after \(timeout) waiting for \(what())", file: file, line: line)
    }

    private func expire(_ id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(returning: nil)
    }
}

/// Counts down from `count`; tests await zero.
final class Countdown: Sendable {
    private let state: Mutex<(remaining: Int, waiters: [CheckedContinuation<Void, Never>])>

    init(_ count: Int) { state = Mutex((count, [])) }

    var remaining: Int { state.withLock { $0.remaining } }

    func tick() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.remaining -= 1
            guard state.remaining == 0 else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until the count reaches zero, or `timeout`.
    /// - Returns: whether it reached zero.
    func wait(timeout: Duration) async -> Bool {
        let inbox = Inbox<Bool>()
        Task {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state -> Bool in
                    if state.remaining > 0 { state.waiters.append(continuation) }
                    return state.remaining <= 0
                }
                if done { continuation.resume() }
            }
            inbox.put(true)
        }
        return await inbox.take(timeout: timeout) ?? false
    }
}

/// Yields until `condition` holds, for state that no event announces (a task's first step);
/// fails after `timeout`.
func waitUntil(_ what: String, timeout: Duration = eventTimeout, file: StaticString = #filePath, line: UInt = #line,
               _ condition: () -> Bool) async throws {
    let start = ContinuousClock.now
    while !condition() {
        guard ContinuousClock.now - start < timeout else {
            XCTFail("timed out after \(timeout) waiting until \(what)", file: file, line: line)
            throw CancellationError()
        }
        await Task.yield()
    }
}

/// A value behind a lock, shareable with callbacks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    @discardableResult
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T {
        mutex.withLock { body(&$0) }
    }

    var value: Value { mutex.withLock { $0 } }
}

extension Duration {
    /// The duration in seconds, for Dispatch deadlines and assertions.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Seconds elapsed since `start`.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    (ContinuousClock.now - start).seconds
}
