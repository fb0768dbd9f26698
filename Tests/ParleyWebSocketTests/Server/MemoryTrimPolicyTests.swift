import XCTest
@testable import ParleyWebSocket

/// When a server gives memory back: after a large drop in connections or buffered bytes, at
/// most once per interval, never under steady load.
final class MemoryTrimPolicyTests: XCTestCase {
    private let start = ContinuousClock.now

    func test_shouldTrim_afterConnectionsDropByHalfAndAThousand() {
        var policy = MemoryTrimPolicy()
        XCTAssertFalse(policy.shouldTrim(connections: 5_000, bufferedBytes: 0, now: start))
        XCTAssertFalse(policy.shouldTrim(connections: 4_000, bufferedBytes: 0, now: start + .seconds(5)), "a fifth gone")
        XCTAssertTrue(policy.shouldTrim(connections: 100, bufferedBytes: 0, now: start + .seconds(10)))
        XCTAssertFalse(policy.shouldTrim(connections: 100, bufferedBytes: 0, now: start + .seconds(15)), "the peak restarts")
    }

    func test_shouldTrim_afterBufferedBytesFallFromAPeak() {
        var policy = MemoryTrimPolicy()
        XCTAssertFalse(policy.shouldTrim(connections: 10, bufferedBytes: 512 << 20, now: start))
        XCTAssertFalse(policy.shouldTrim(connections: 10, bufferedBytes: 200 << 20, now: start + .seconds(5)), "not below a quarter")
        XCTAssertTrue(policy.shouldTrim(connections: 10, bufferedBytes: 1 << 20, now: start + .seconds(10)))
    }

    func test_shouldTrim_never_underSteadyLoadOrSmallDrops() {
        var policy = MemoryTrimPolicy()
        for step in 0..<20 {
            XCTAssertFalse(policy.shouldTrim(connections: 10_000 - step * 10, bufferedBytes: 900 << 20, now: start + .seconds(5 * step)))
        }
        var small = MemoryTrimPolicy()
        XCTAssertFalse(small.shouldTrim(connections: 900, bufferedBytes: 60 << 20, now: start))
        XCTAssertFalse(small.shouldTrim(connections: 0, bufferedBytes: 0, now: start + .seconds(5)), "under 1,000 clients and 64 MiB")
    }

    func test_shouldTrim_atMostOncePerMinimumInterval() {
        var policy = MemoryTrimPolicy()
        _ = policy.shouldTrim(connections: 3_000, bufferedBytes: 0, now: start)
        XCTAssertTrue(policy.shouldTrim(connections: 0, bufferedBytes: 0, now: start + .seconds(5)))
        _ = policy.shouldTrim(connections: 3_000, bufferedBytes: 0, now: start + .seconds(10))
        XCTAssertFalse(policy.shouldTrim(connections: 0, bufferedBytes: 0, now: start + .seconds(15)), "15 s after the last trim")
        XCTAssertTrue(policy.shouldTrim(connections: 0, bufferedBytes: 0, now: start + .seconds(40)), "the drop is still there 35 s after")
    }
}
