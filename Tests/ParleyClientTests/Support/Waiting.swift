import Synchronization
import TestSupport
import XCTest

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
        let inbox = Mailbox<Bool>()
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
