import ParleyProtocol
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

    func test_authMatchesSecret_isTrue_onlyForTheExactStringMember() throws {
        func auth(_ json: String?) throws -> Handshake {
            Handshake(socketIORequest: HTTPRequestHead(method: "GET", target: "/socket.io/?EIO=4&transport=websocket"),
                      address: "127.0.0.1:1", namespace: "/", auth: try json.map { try RawJSON(json: $0) })
        }
        XCTAssertTrue(try auth(#"{"token":"s3cret"}"#).auth("token", matchesSecret: "s3cret"))
        XCTAssertTrue(try auth(#"{"user":1,"token":"s3cret"}"#).auth("token", matchesSecret: "s3cret"))
        for json in [#"{"token":"s3cre"}"#, #"{"token":"s3cret!"}"#, #"{"token":null}"#, #"{"token":["s3cret"]}"#,
                     #"{"other":"s3cret"}"#, "{}", nil] {
            XCTAssertFalse(try auth(json).auth("token", matchesSecret: "s3cret"), json ?? "nil")
        }
        XCTAssertFalse(handshake("/parley?token=s3cret").auth("token", matchesSecret: "s3cret"))
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
