import XCTest
@testable import ParleyIO

final class DeadlineQueueTests: XCTestCase {
    private final class Target: DeadlineTarget {
        let label: Int
        init(_ label: Int) { self.label = label }
        func deadlineReached(_ deadline: Deadline) {}
    }

    private func due(_ queue: inout DeadlineQueue, now: UInt64) -> [Int] {
        var due: [(target: any DeadlineTarget, raw: UInt64)] = []
        queue.popDue(now: now, tag: 0, into: &due)
        return due.map { ($0.target as! Target).label }
    }

    func test_deadlineQueue_popDue_returnsDueDeadlinesInOrderSet() {
        var queue = DeadlineQueue(delay: 100)
        _ = queue.append(Target(1), now: 0)
        _ = queue.append(Target(2), now: 10)
        _ = queue.append(Target(3), now: 20)
        XCTAssertEqual(queue.nextDeadline, 100)
        XCTAssertEqual(due(&queue, now: 99), [])
        XCTAssertEqual(due(&queue, now: 110), [1, 2])
        XCTAssertEqual(queue.nextDeadline, 120)
        XCTAssertEqual(due(&queue, now: 1_000), [3])
        XCTAssertNil(queue.nextDeadline)
        XCTAssertTrue(queue.isEmpty)
    }

    func test_deadlineQueue_cancel_releasesTargetAndSkipsIt() {
        var queue = DeadlineQueue(delay: 100)
        weak var released: Target?
        var sequences: [UInt64] = []
        do {
            let target = Target(1)
            released = target
            sequences.append(queue.append(target, now: 0))
        }
        sequences.append(queue.append(Target(2), now: 5))
        sequences.append(queue.append(Target(3), now: 10))
        queue.cancel(sequences[1])
        queue.cancel(sequences[0])
        XCTAssertNil(released, "a cancelled deadline lets go of its target at once")
        XCTAssertEqual(queue.nextDeadline, 110, "cancelled entries at the head are gone")
        queue.cancel(sequences[0])  // twice: nothing happens
        XCTAssertEqual(due(&queue, now: 200), [3])
    }

    func test_deadlineQueue_manyDeadlines_wrapGrowAndShrinkInOrder() {
        var queue = DeadlineQueue(delay: 1)
        var expected: [Int] = []
        var sequences: [Int: UInt64] = [:]
        // Interleave appends and pops so that the ring wraps, grows and shrinks.
        var now: UInt64 = 0
        var fired: [Int] = []
        for label in 0..<5_000 {
            sequences[label] = queue.append(Target(label), now: now)
            expected.append(label)
            if label % 7 == 3, label % 1_000 >= 2 { queue.cancel(sequences[label - 2]!); expected.removeAll { $0 == label - 2 } }
            if label % 1_000 == 999 {
                now += 1
                fired += due(&queue, now: now)
            }
        }
        fired += due(&queue, now: now + 10)
        XCTAssertEqual(fired.count, expected.count)
        XCTAssertEqual(fired.first { !expected.contains($0) }, nil, "fired although cancelled")
        XCTAssertEqual(expected.first { !fired.contains($0) }, nil, "never fired")
        XCTAssertTrue(fired == expected, "not in the order set")
        XCTAssertTrue(queue.isEmpty)
    }
}
