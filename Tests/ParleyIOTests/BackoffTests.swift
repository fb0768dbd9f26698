import ParleyIO
import TestSupport
import XCTest

final class BackoffTests: XCTestCase {
    private let socketIODefaults = Backoff(initial: .seconds(1), maximum: .seconds(5), jitter: 0.5)

    func test_backoff_doublesFromInitialUpToMaximum_withMiddleDraws() {
        var backoff = socketIODefaults
        var random = ScriptedRandom([0.5])
        let delays = (0..<6).map { _ in backoff.next(using: &random) }
        XCTAssertEqual(delays, [.seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5), .seconds(5)])
        XCTAssertEqual(backoff.attempts, 6)
    }

    func test_backoff_jitterSpansPlusMinusRandomizationFactor_withExtremeDraws() {
        var backoff = socketIODefaults
        var random = ScriptedRandom([0, 0.75, 0.25])
        XCTAssertEqual(backoff.next(using: &random), .milliseconds(500))    // 1 s × (1 − 0.5)
        XCTAssertEqual(backoff.next(using: &random), .milliseconds(2500))   // 2 s × (1 + 0.25)
        XCTAssertEqual(backoff.next(using: &random), .seconds(3))           // 4 s × (1 − 0.25)
    }

    func test_backoff_neverExceedsMaximum_whenJitterWouldPassIt() {
        // 4 s + 50 % would be 6 s: the cap comes after the jitter, as Socket.IO.
        XCTAssertEqual(socketIODefaults.delay(attempt: 2, unitRandom: 0.999_999), .seconds(5))
        XCTAssertEqual(socketIODefaults.delay(attempt: 3, unitRandom: 0), .seconds(4))   // 8 s − 50 %
        XCTAssertEqual(socketIODefaults.delay(attempt: 3, unitRandom: 0.5), .seconds(5))
    }

    func test_backoff_staysAtMaximum_forHugeAttemptNumbers() {
        XCTAssertEqual(socketIODefaults.delay(attempt: 10_000, unitRandom: 0.5), .seconds(5))
        XCTAssertEqual(socketIODefaults.delay(attempt: Int.max, unitRandom: 0), .seconds(5))
        let noJitter = Backoff(initial: .milliseconds(1), maximum: .seconds(30), jitter: 0)
        XCTAssertEqual(noJitter.delay(attempt: 1_000, unitRandom: 0.123), .seconds(30))
    }

    func test_backoff_isExact_withoutJitter() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0)
        var random = ScriptedRandom([0.9, 0.1])
        let delays = (0..<5).map { _ in backoff.next(using: &random) }
        XCTAssertEqual(delays, [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1)])
    }

    func test_backoff_startsOver_afterReset() {
        var backoff = socketIODefaults
        var random = ScriptedRandom([0.5])
        _ = backoff.next(using: &random)
        _ = backoff.next(using: &random)
        backoff.reset()
        XCTAssertEqual(backoff.attempts, 0)
        XCTAssertEqual(backoff.next(using: &random), .seconds(1))
    }

    func test_backoff_clampsRandomizationFactor_toZeroThroughOne() {
        XCTAssertEqual(Backoff(initial: .seconds(1), maximum: .seconds(5), jitter: 7).jitter, 1)
        XCTAssertEqual(Backoff(initial: .seconds(1), maximum: .seconds(5), jitter: -1).jitter, 0)
        // Full jitter at the lowest draw gives no delay at all, never a negative one.
        XCTAssertEqual(Backoff(initial: .seconds(1), maximum: .seconds(5), jitter: 1).delay(attempt: 0, unitRandom: 0), .zero)
    }

    func test_backoff_staysInItsBand_forEverySeededDraw() {
        // Socket.IO's defaults: 0.5–1.5 s, 1–3 s, 2–5 s, then 2.5–5 s.
        let bands: [ClosedRange<Duration>] = [.milliseconds(500) ... .milliseconds(1500), .seconds(1) ... .seconds(3),
                                              .seconds(2) ... .seconds(5), .milliseconds(2500) ... .seconds(5)]
        var random = SeededRandom(seed: 42)
        for _ in 0..<200 {
            var backoff = socketIODefaults
            for attempt in 0..<8 {
                let delay = backoff.next(using: &random)
                XCTAssertTrue(bands[min(attempt, 3)].contains(delay), "attempt \(attempt): \(delay)")
            }
        }
    }

    func test_backoff_repeatsItsDelays_forTheSameSeed() {
        func delays(seed: UInt64) -> [Duration] {
            var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2), jitter: 0.5)
            var random = SeededRandom(seed: seed)
            return (0..<10).map { _ in backoff.next(using: &random) }
        }
        XCTAssertEqual(delays(seed: 7), delays(seed: 7))
        XCTAssertNotEqual(delays(seed: 7), delays(seed: 8))
    }

    func test_backoff_hasRedisDefaults_thatDoubleFrom100msTo2s() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2), jitter: 0)
        var random = SeededRandom(seed: 1)
        let delays = (0..<7).map { _ in backoff.next(using: &random) }
        XCTAssertEqual(delays, [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                                .milliseconds(1600), .seconds(2), .seconds(2)])
    }
}
