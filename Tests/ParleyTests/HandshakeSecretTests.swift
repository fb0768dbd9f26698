import ParleyWebSocket
import XCTest
@testable import Parley

/// `Handshake.query(_:matchesSecret:)`: the constant-time token check.
final class HandshakeSecretTests: XCTestCase {
    private func handshake(_ target: String) -> Handshake {
        Handshake(request: HTTPRequestHead(method: "GET", target: target), address: "127.0.0.1:1")
    }

    func test_queryMatchesSecret_isTrue_onlyForTheExactValue() {
        XCTAssertTrue(handshake("/parley?token=s3cret").query("token", matchesSecret: "s3cret"))
        for target in ["/parley?token=s3cre", "/parley?token=s3cret!", "/parley?token=S3cret", "/parley?token=", "/parley", "/parley?other=s3cret"] {
            XCTAssertFalse(handshake(target).query("token", matchesSecret: "s3cret"), target)
        }
    }

    func test_constantTimeEquals_comparesLengthAndEveryByte() {
        XCTAssertTrue(Handshake.constantTimeEquals([], []))
        XCTAssertTrue(Handshake.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(Handshake.constantTimeEquals([1, 2], [1, 2, 3]))
        XCTAssertFalse(Handshake.constantTimeEquals([1, 2, 3, 0], [1, 2, 3]))
        XCTAssertFalse(Handshake.constantTimeEquals([1, 2, 4], [1, 2, 3]))
        XCTAssertFalse(Handshake.constantTimeEquals([9, 2, 3], [1, 2, 3]))
        XCTAssertFalse(Handshake.constantTimeEquals([1], []))
    }
}
