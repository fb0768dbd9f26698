import Foundation
import Synchronization
import XCTest
@testable import ParleyIO

/// `EventLoop.execute(after:)` and its cancellable handle. "Did not run" is shown without
/// sleeping: a later task is awaited, and timers fire in deadline order.
final class ScheduledTests: XCTestCase {
    private let group = EventLoopGroup(loopCount: 1, name: "parley-scheduled-test")

    override func tearDown() {
        group.shutdown()
    }

    /// What the tasks recorded, in order.
    private final class Log: Sendable {
        private let entries = Mutex<[String]>([])
        private let condition = NSCondition()

        func put(_ entry: String) {
            entries.withLock { $0.append(entry) }
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }

        /// Waits (up to 5 s) until `entry` was recorded; returns everything so far.
        func wait(for entry: String) -> [String] {
            let deadline = Date().addingTimeInterval(5)
            condition.lock()
            defer { condition.unlock() }
            while !entries.withLock({ $0.contains(entry) }) && condition.wait(until: deadline) {}
            let all = entries.withLock { $0 }
            XCTAssertTrue(all.contains(entry), "timed out waiting for \(entry); got \(all)")
            return all
        }
    }

    /// An object whose release is observed through a weak reference.
    private final class Payload: Sendable {}

    func test_executeAfter_runsTask_afterDelay() {
        let log = Log()
        group.next().execute(after: .milliseconds(20)) { log.put("ran") }
        XCTAssertEqual(log.wait(for: "ran"), ["ran"])
    }

    func test_cancel_fromOtherThread_taskNeverRuns() {
        let log = Log()
        let loop = group.next()
        let cancelled = loop.execute(after: .milliseconds(30)) { log.put("cancelled task") }
        cancelled.cancel()
        loop.execute(after: .milliseconds(60)) { log.put("later task") }
        XCTAssertEqual(log.wait(for: "later task"), ["later task"])
    }

    func test_cancel_onLoopThread_taskNeverRuns() {
        let log = Log()
        let loop = group.next()
        loop.execute {
            let cancelled = loop.execute(after: .milliseconds(30)) { log.put("cancelled task") }
            cancelled.cancel()
            loop.execute(after: .milliseconds(60)) { log.put("later task") }
        }
        XCTAssertEqual(log.wait(for: "later task"), ["later task"])
    }

    func test_cancel_releasesCapturedObjects_beforeDeadline() {
        let log = Log()
        let loop = group.next()
        weak var observed: Payload?
        let scheduled: Scheduled = {
            let payload = Payload()
            observed = payload
            return loop.execute(after: .seconds(60)) { _ = payload }
        }()
        // Armed on the loop (a hop, since this is another thread): wait for it, then cancel.
        loop.execute { log.put("armed") }
        _ = log.wait(for: "armed")
        XCTAssertNotNil(observed, "the loop holds the task until it runs or is cancelled")
        scheduled.cancel()
        // The cancel hops to the loop too; the loop runs hand-offs in order.
        loop.execute { log.put("cancel done") }
        _ = log.wait(for: "cancel done")
        XCTAssertNil(observed, "a cancelled task is released at once, not at its deadline")
    }

    func test_cancel_afterRun_doesNothing() {
        let log = Log()
        let scheduled = group.next().execute(after: .milliseconds(1)) { log.put("ran") }
        _ = log.wait(for: "ran")
        scheduled.cancel()
        scheduled.cancel()
        group.next().execute { log.put("after") }
        XCTAssertEqual(log.wait(for: "after"), ["ran", "after"])
    }

    /// A deadline target that records its deadlines; `DeadlineTarget` is loop-confined.
    private final class Waiter: DeadlineTarget, @unchecked Sendable {
        let name: String
        let log: Log
        var deadlines: [Deadline] = []
        init(_ name: String, _ log: Log) { self.name = name; self.log = log }
        func deadlineReached(_ deadline: Deadline) {
            log.put("\(name) \(deadlines.firstIndex(of: deadline).map(String.init) ?? "unknown")")
        }
    }

    func test_setDeadline_firesInDeadlineOrder_acrossDelays_andNotWhenCancelled() {
        let log = Log()
        let loop = group.next()
        let started = Mutex<UInt64>(0)
        loop.execute {
            started.withLock { $0 = monotonicNanoseconds() }
            let a = Waiter("a", log), b = Waiter("b", log)
            a.deadlines.append(loop.setDeadline(after: .milliseconds(60), for: a))
            b.deadlines.append(loop.setDeadline(after: .milliseconds(20), for: b))
            let cancelled = loop.setDeadline(after: .milliseconds(20), for: a)
            a.deadlines.append(cancelled)
            b.deadlines.append(loop.setDeadline(after: .milliseconds(40), for: b))
            loop.cancel(cancelled)
        }
        XCTAssertEqual(log.wait(for: "a 0"), ["b 0", "b 1", "a 0"])
        let elapsed = monotonicNanoseconds() - started.withLock { $0 }
        XCTAssertGreaterThanOrEqual(elapsed, 60_000_000, "fired before its deadline")
    }
}
