import XCTest
@testable import ParleyWebSocket

/// The per-address limit on refused connections, driven by a clock the test controls.
final class RefusalLimiterTests: XCTestCase {
    private let start = ContinuousClock.now
    private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

    func test_refusalLimiter_allows_untilMaxRefusalsWithinTheWindow() {
        var limiter = RefusalLimiter(limit: .init(maxRefusals: 3, window: .seconds(10)))
        for second in 0..<3 {
            XCTAssertNil(limiter.retryAfter(for: "10.0.0.1", now: at(Double(second))))
            limiter.recordRefusal(from: "10.0.0.1", now: at(Double(second)))
        }
        XCTAssertEqual(limiter.retryAfter(for: "10.0.0.1", now: at(3)), .seconds(7))
        XCTAssertNil(limiter.retryAfter(for: "10.0.0.2", now: at(3)), "other addresses are not limited")
    }

    func test_refusalLimiter_allowsAgain_onceTheWindowHasPassed() {
        var limiter = RefusalLimiter(limit: .init(maxRefusals: 2, window: .seconds(10)))
        limiter.recordRefusal(from: "a", now: at(0))
        limiter.recordRefusal(from: "a", now: at(1))
        XCTAssertEqual(limiter.retryAfter(for: "a", now: at(9.5)), .milliseconds(500))
        XCTAssertNil(limiter.retryAfter(for: "a", now: at(10)))
        limiter.recordRefusal(from: "a", now: at(10))  // a new window starts
        XCTAssertNil(limiter.retryAfter(for: "a", now: at(11)))
        limiter.recordRefusal(from: "a", now: at(11))
        XCTAssertEqual(limiter.retryAfter(for: "a", now: at(11)), .seconds(9))
    }

    func test_refusalLimiter_retryAfterSeconds_roundsUpToAtLeastOne() {
        XCTAssertEqual(RefusalLimiter.retryAfterSeconds(.milliseconds(1)), 1)
        XCTAssertEqual(RefusalLimiter.retryAfterSeconds(.milliseconds(1500)), 2)
        XCTAssertEqual(RefusalLimiter.retryAfterSeconds(.seconds(7)), 7)
    }

    func test_refusalLimiter_tracksAtMostMaxAddresses_droppingExpiredOnesFirst() {
        var limiter = RefusalLimiter(limit: .init(maxRefusals: 1, window: .seconds(10)), maxAddresses: 2)
        limiter.recordRefusal(from: "a", now: at(0))
        limiter.recordRefusal(from: "b", now: at(5))
        XCTAssertEqual(limiter.trackedAddresses, 2)
        limiter.recordRefusal(from: "c", now: at(6))  // full, nothing expired: not tracked
        XCTAssertEqual(limiter.trackedAddresses, 2)
        XCTAssertNil(limiter.retryAfter(for: "c", now: at(6)))
        limiter.recordRefusal(from: "c", now: at(11))  // "a" expired: dropped, "c" tracked
        XCTAssertEqual(limiter.trackedAddresses, 2)
        XCTAssertNotNil(limiter.retryAfter(for: "c", now: at(11)))
        XCTAssertNotNil(limiter.retryAfter(for: "b", now: at(11)))
    }

    func test_refusalLimiter_host_dropsThePort() {
        XCTAssertEqual(RefusalLimiter.host(ofPeer: "127.0.0.1:5000"), "127.0.0.1")
        XCTAssertEqual(RefusalLimiter.host(ofPeer: "[::1]:5000"), "::1")
        XCTAssertEqual(RefusalLimiter.host(ofPeer: "[::ffff:10.0.0.1]:80"), "::ffff:10.0.0.1")
        XCTAssertEqual(RefusalLimiter.host(ofPeer: ""), "")
        XCTAssertEqual(RefusalLimiter.host(ofPeer: "10.0.0.1"), "10.0.0.1")
        XCTAssertEqual(RefusalLimiter.host(ofPeer: "2001:db8::1"), "2001:db8::1", "a bare IPv6 has no port")
        XCTAssertEqual(RefusalLimiter.limitKey(ofPeer: "2001:db8::1"), "2001:db8::/64")
    }

    func test_refusalLimiter_limitKey_isTheHostForIPv4AndTheSlash64ForIPv6() {
        XCTAssertEqual(RefusalLimiter.limitKey(ofPeer: "10.0.0.1:5000"), "10.0.0.1")
        XCTAssertEqual(RefusalLimiter.limitKey(ofPeer: "[::ffff:10.0.0.1]:80"), "10.0.0.1")
        XCTAssertEqual(RefusalLimiter.limitKey(ofPeer: "[2001:db8:1:2::7]:443"), "2001:db8:1:2::/64")
        XCTAssertEqual(RefusalLimiter.limitKey(ofPeer: "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1"), "2001:db8:1:2::/64")
        XCTAssertNotEqual(RefusalLimiter.limitKey(ofPeer: "[2001:db8:1:3::7]:443"), "2001:db8:1:2::/64")
        XCTAssertEqual(RefusalLimiter.limitKey(ofPeer: "[::1]:5000"), "::/64")
        XCTAssertEqual(RefusalLimiter.limitKey(ofPeer: "[zz::1]:5000"), "zz::1", "not an address: its own key")
        XCTAssertEqual(RefusalLimiter.limitKey(ofPeer: ""), "")
    }

    func test_refusalLimiter_blocksAWholeIPv6Slash64_whenItsAddressesRotate() {
        var limiter = RefusalLimiter(limit: .init(maxRefusals: 3, window: .seconds(10)))
        for suffix in 1...3 {
            limiter.recordRefusal(from: RefusalLimiter.limitKey(ofPeer: "[2001:db8::\(suffix)]:4000"), now: at(0))
        }
        XCTAssertNotNil(limiter.retryAfter(for: RefusalLimiter.limitKey(ofPeer: "[2001:db8::99]:4000"), now: at(1)))
        XCTAssertNil(limiter.retryAfter(for: RefusalLimiter.limitKey(ofPeer: "[2001:db8:0:1::1]:4000"), now: at(1)))
    }

    func test_refusalLimit_default_is20RefusalsPer10Seconds() {
        let limit = RefusalLimiter.Limit()
        XCTAssertEqual(limit.maxRefusals, 20)
        XCTAssertEqual(limit.window, .seconds(10))
        XCTAssertEqual(WebSocketServer.Configuration().refusalLimit, limit)
    }
}

/// The cap on handshakes in progress, total and per address.
final class HandshakeLimiterTests: XCTestCase {
    func test_handshakeLimiter_refusesOverTheTotal_andAcceptsAgainAfterEnd() {
        var limiter = HandshakeLimiter(maxTotal: 2, maxPerAddress: 2)
        XCTAssertTrue(limiter.begin(from: "a"))
        XCTAssertTrue(limiter.begin(from: "b"))
        XCTAssertFalse(limiter.begin(from: "c"))
        limiter.end(from: "a")
        XCTAssertTrue(limiter.begin(from: "c"))
        XCTAssertEqual(limiter.inProgress, 2)
    }

    func test_handshakeLimiter_refusesOverThePerAddressCap_whileOthersProceed() {
        var limiter = HandshakeLimiter(maxTotal: 10, maxPerAddress: 2)
        XCTAssertTrue(limiter.begin(from: "a"))
        XCTAssertTrue(limiter.begin(from: "a"))
        XCTAssertFalse(limiter.begin(from: "a"))
        XCTAssertTrue(limiter.begin(from: "b"))
        limiter.end(from: "a")
        XCTAssertTrue(limiter.begin(from: "a"))
    }

    func test_handshakeLimiter_forgetsAddresses_withNoHandshakeInProgress() {
        var limiter = HandshakeLimiter(maxTotal: 10, maxPerAddress: 1)
        XCTAssertTrue(limiter.begin(from: "a"))
        limiter.end(from: "a")
        limiter.end(from: "a")  // an extra end changes nothing
        XCTAssertEqual(limiter.inProgress, 0)
        XCTAssertEqual(limiter.trackedAddresses, 0)
        XCTAssertTrue(limiter.begin(from: "a"))
    }
}
