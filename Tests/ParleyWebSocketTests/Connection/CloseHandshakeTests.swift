import XCTest
@testable import ParleyWebSocket

final class CloseHandshakeTests: XCTestCase {
    func test_closeHandshake_localClose_sendsCloseAndAwaitsReply() {
        var handshake = CloseHandshake(isServer: true)
        let actions = handshake.localClose(code: .normalClosure, reason: "bye")
        XCTAssertEqual(actions, [.sendClose(payload: [0x03, 0xE8] + Array("bye".utf8)), .awaitReply])
        XCTAssertFalse(handshake.canSend)
        XCTAssertTrue(handshake.isReading)
    }

    func test_closeHandshake_replyAfterLocalClose_finishesWithoutSecondCloseFrame() {
        var handshake = CloseHandshake(isServer: true)
        _ = handshake.localClose(code: .goingAway, reason: "")
        XCTAssertEqual(handshake.peerClose(code: .goingAway, reason: ""), [.finish(shutdownWrite: true)])
        XCTAssertEqual(handshake.code, .goingAway)
        XCTAssertFalse(handshake.isReading)
    }

    func test_closeHandshake_peerClose_echoesCodeAndServerHalfCloses() {
        var handshake = CloseHandshake(isServer: true)
        XCTAssertEqual(handshake.peerClose(code: CloseCode(4000), reason: "done"),
                       [.sendClose(payload: [0x0F, 0xA0]), .finish(shutdownWrite: true)])
        XCTAssertEqual(handshake.code, CloseCode(4000))
        XCTAssertEqual(handshake.reason, "done")
    }

    func test_closeHandshake_peerClose_clientWaitsForServerTCPClose() {
        var handshake = CloseHandshake(isServer: false)
        XCTAssertEqual(handshake.peerClose(code: .normalClosure, reason: ""),
                       [.sendClose(payload: [0x03, 0xE8]), .finish(shutdownWrite: false)])
    }

    func test_closeHandshake_peerCloseWithoutCode_repliesEmptyAndReports1005() {
        var handshake = CloseHandshake(isServer: true)
        XCTAssertEqual(handshake.peerClose(code: nil, reason: ""), [.sendClose(payload: []), .finish(shutdownWrite: true)])
        XCTAssertEqual(handshake.code, .noStatusReceived)
    }

    func test_closeHandshake_fail_sendsErrorCodeOnceAndStopsReading() {
        var handshake = CloseHandshake(isServer: true)
        let actions = handshake.fail(.invalidUTF8)
        guard case .sendClose(let payload)? = actions.first else { return XCTFail("no close frame: \(actions)") }
        XCTAssertEqual(Array(payload.prefix(2)), [0x03, 0xEF])  // 1007
        XCTAssertEqual(actions.last, .finish(shutdownWrite: true))
        XCTAssertEqual(handshake.code, .invalidPayload)
        XCTAssertEqual(handshake.fail(.protocolViolation("again")), [])
        XCTAssertEqual(handshake.peerClose(code: .normalClosure, reason: ""), [])
    }

    func test_closeHandshake_secondLocalClose_isIgnored() {
        var handshake = CloseHandshake(isServer: false)
        _ = handshake.localClose(code: .normalClosure, reason: "")
        XCTAssertEqual(handshake.localClose(code: .goingAway, reason: ""), [])
        XCTAssertEqual(handshake.code, .normalClosure)
    }
}
