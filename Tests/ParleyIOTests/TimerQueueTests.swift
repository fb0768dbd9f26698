import XCTest
@testable import ParleyIO

final class TimerQueueTests: XCTestCase {
    func test_timerQueue_popExpired_returnsDueTimersInDeadlineOrder() {
        var queue = TimerQueue()
        var fired: [Int] = []
        for (deadline, label) in [(30, 3), (10, 1), (20, 2), (40, 4)] {
            _ = queue.schedule(at: UInt64(deadline)) { fired.append(label) }
        }
        XCTAssertEqual(queue.nextDeadline(), 10)
        for body in queue.popExpired(now: 30) { body() }
        XCTAssertEqual(fired, [1, 2, 3])
        XCTAssertEqual(queue.nextDeadline(), 40)
    }

    func test_timerQueue_cancelledTimer_neverFires() {
        var queue = TimerQueue()
        var fired = false
        let id = queue.schedule(at: 5) { fired = true }
        queue.cancel(id)
        XCTAssertNil(queue.nextDeadline())
        for body in queue.popExpired(now: 100) { body() }
        XCTAssertFalse(fired)
        XCTAssertTrue(queue.isEmpty)
    }

    func test_timerQueue_manyCancellations_compactAndKeepLiveTimers() {
        var queue = TimerQueue()
        var ids: [TimerID] = []
        var fired: [Int] = []
        for i in 0..<500 { ids.append(queue.schedule(at: UInt64(1000 - i)) { fired.append(i) }) }
        for (i, id) in ids.enumerated() where i % 10 != 0 { queue.cancel(id) }
        for body in queue.popExpired(now: .max) { body() }
        XCTAssertEqual(fired, stride(from: 490, through: 0, by: -10).map { $0 })
    }
}
