import XCTest
@testable import ParleyWebSocket

final class KeepAliveTests: XCTestCase {
    func test_keepAlive_pingAnswered_schedulesNextPing() {
        var keepAlive = KeepAlive()
        XCTAssertEqual(keepAlive.pingDue(), .sendPing)
        keepAlive.frameReceived()
        XCTAssertEqual(keepAlive.deadlineDue(), .scheduleNextPing)
    }

    func test_keepAlive_silentPeer_timesOut() {
        var keepAlive = KeepAlive()
        XCTAssertEqual(keepAlive.pingDue(), .sendPing)
        XCTAssertEqual(keepAlive.deadlineDue(), .timedOut)
    }

    func test_keepAlive_frameBeforePing_doesNotCountForNextPing() {
        var keepAlive = KeepAlive()
        keepAlive.frameReceived()
        _ = keepAlive.pingDue()
        XCTAssertEqual(keepAlive.deadlineDue(), .timedOut)
    }
}
