import XCTest
@testable import ParleyWebSocket

/// Which requests keep their connection (RFC 9112 9.3), and how a response says it.
final class HTTPPersistenceTests: XCTestCase {
    private func head(_ version: String, connection: String?) -> HTTPRequestHead {
        HTTPRequestHead(method: "GET", target: "/", version: version, headers: connection.map { [("Connection", $0)] } ?? [])
    }

    func test_keepsConnectionOpen_followsRFC9112Section9_3() {
        XCTAssertTrue(head("HTTP/1.1", connection: nil).keepsConnectionOpen)
        XCTAssertTrue(head("HTTP/1.1", connection: "keep-alive").keepsConnectionOpen)
        XCTAssertFalse(head("HTTP/1.1", connection: "close").keepsConnectionOpen)
        XCTAssertFalse(head("HTTP/1.1", connection: "Upgrade, Close").keepsConnectionOpen, "options are case-insensitive tokens")
        XCTAssertFalse(head("HTTP/1.0", connection: nil).keepsConnectionOpen)
        XCTAssertTrue(head("HTTP/1.0", connection: "Keep-Alive").keepsConnectionOpen)
        XCTAssertFalse(head("HTTP/1.0", connection: "keep-alive, close").keepsConnectionOpen)
    }

    func test_persists_onlyWhenTheBodyIsKnownToBeRead() {
        let get = head("HTTP/1.1", connection: nil)
        XCTAssertTrue(UpgradeHandler.persists(get, bodyRead: false))
        var post = HTTPRequestHead(method: "POST", target: "/", headers: [("Content-Length", "3")])
        XCTAssertFalse(UpgradeHandler.persists(post, bodyRead: false))
        XCTAssertTrue(UpgradeHandler.persists(post, bodyRead: true))
        post.headers = [("Transfer-Encoding", "chunked")]
        XCTAssertFalse(UpgradeHandler.persists(post, bodyRead: false))
        let upgrade = HTTPRequestHead(method: "GET", target: "/", headers: [("Upgrade", "websocket"), ("Connection", "Upgrade")])
        XCTAssertFalse(UpgradeHandler.persists(upgrade, bodyRead: true), "a refused upgrade closes")
    }

    func test_encoded_saysKeepAliveWithTimeout_orClose() {
        let response = HTTPResponse(status: 200, body: Array("ok".utf8))
        XCTAssertEqual(String(decoding: response.encoded(keepAliveTimeout: .seconds(5)), as: UTF8.self),
                       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nok")
        XCTAssertEqual(String(decoding: response.encoded(), as: UTF8.self),
                       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        XCTAssertEqual(String(decoding: response.encoded(keepAliveTimeout: .milliseconds(300)), as: UTF8.self),
                       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok", "no timeout under a second")
    }

    func test_encoded_204_hasNoContentLength() {
        // RFC 9110 8.6: no Content-Length in a 204; a persistent connection's client knows it has no content.
        XCTAssertEqual(String(decoding: HTTPResponse(status: 204).encoded(keepAliveTimeout: .seconds(5)), as: UTF8.self),
                       "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n")
    }
}
