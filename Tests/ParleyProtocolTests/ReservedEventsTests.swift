import ParleyProtocol
import XCTest

final class ReservedEventsTests: XCTestCase {
    func test_contains_agreesWithAll_andWithProtocolMd() {
        XCTAssertEqual(ReservedEvents.all, ["connect", "connect_error", "disconnect", "disconnecting", "error", "heartbeat"])
        for name in ReservedEvents.all { XCTAssertTrue(ReservedEvents.contains(name), name) }
        for name in ["chat", "Connect", "connect ", "", "errors", "ping"] { XCTAssertFalse(ReservedEvents.contains(name), name) }
    }
}
