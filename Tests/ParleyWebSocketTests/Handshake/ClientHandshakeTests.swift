import Foundation
import XCTest
@testable import ParleyWebSocket

final class ClientHandshakeTests: XCTestCase {
    private let rfcKey = "dGhlIHNhbXBsZSBub25jZQ=="
    private let rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    private func target(_ url: String) throws -> ClientHandshake.Target {
        try ClientHandshake.Target(url: url)
    }

    private func client(_ url: String = "ws://localhost:8080/p?q=1", subprotocols: [String] = [],
                        extraHeaders: [(name: String, value: String)] = []) throws -> ClientHandshake {
        ClientHandshake(target: try target(url), key: rfcKey, subprotocols: subprotocols, extraHeaders: extraHeaders)
    }

    /// The client's request bytes, parsed back with the server-side parser.
    private func parsedRequest(_ handshake: ClientHandshake, file: StaticString = #filePath, line: UInt = #line) throws -> HTTPRequestHead {
        var parser = HTTPHeadParser(maxBytes: 8192)
        let result = try handshake.request().withUnsafeBytes { try parser.feed($0) }
        guard case .complete(let lines, let remainder) = result else {
            XCTFail("request head incomplete", file: file, line: line)
            throw WebSocketError.closed
        }
        XCTAssertEqual(remainder, [], file: file, line: line)
        return try HTTPHeadParser.request(lines)
    }

    private func response(_ status: String = "HTTP/1.1 101 Switching Protocols", dropping dropped: String? = nil,
                          extra: [String] = []) -> [String] {
        let fields = ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: \(rfcAccept)"]
        return [status] + fields.filter { dropped == nil || !$0.hasPrefix(dropped!) } + extra
    }

    private func assertInvalidURL(_ url: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try target(url), url, file: file, line: line) { error in
            guard case .invalidURL = error as? WebSocketError else {
                return XCTFail("\(url): expected .invalidURL, got \(error)", file: file, line: line)
            }
        }
    }

    private func assertValidateThrows(_ expected: WebSocketError, _ handshake: ClientHandshake, _ lines: [String],
                                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try handshake.validate(responseLines: lines), file: file, line: line) { error in
            XCTAssertEqual(error as? WebSocketError, expected, file: file, line: line)
        }
    }

    // MARK: - Target

    func test_clientHandshakeTarget_parsesHostPortAndResource() throws {
        let parsed = try target("ws://localhost:8080/p?q=1")
        XCTAssertEqual(parsed.host, "localhost")
        XCTAssertEqual(parsed.port, 8080)
        XCTAssertEqual(parsed.resource, "/p?q=1")
    }

    func test_clientHandshakeTarget_defaultsToPort80() throws {
        XCTAssertEqual(try target("ws://example.com/chat").port, 80)
        XCTAssertEqual(try target("ws://example.com/chat").resource, "/chat")
    }

    func test_clientHandshakeTarget_defaultsToRootPath() throws {
        XCTAssertEqual(try target("ws://example.com").resource, "/")
        XCTAssertEqual(try target("ws://example.com:9000").resource, "/")
        XCTAssertEqual(try target("ws://example.com?x=1").resource, "/?x=1")
    }

    func test_clientHandshakeTarget_keepsPercentEncoding_andAcceptsUppercaseScheme() throws {
        XCTAssertEqual(try target("ws://h/a%20b?x=%20&y").resource, "/a%20b?x=%20&y")
        XCTAssertEqual(try target("WS://example.com/").host, "example.com")
    }

    func test_clientHandshakeTarget_stripsBracketsOfIPv6Literal() throws {
        let parsed = try target("ws://[::1]:9000/x")
        XCTAssertEqual(parsed.host, "::1")
        XCTAssertEqual(parsed.port, 9000)
        let head = try parsedRequest(ClientHandshake(target: parsed, key: rfcKey))
        XCTAssertEqual(head["Host"], "[::1]:9000")
    }

    func test_clientHandshakeTarget_acceptsWSS_withPort443ByDefault() throws {
        let parsed = try target("wss://example.com/chat?x=1")
        XCTAssertTrue(parsed.secure)
        XCTAssertEqual(parsed.port, 443)
        XCTAssertEqual(parsed.resource, "/chat?x=1")
        let plain = try target("ws://example.com/")
        XCTAssertFalse(plain.secure)
        XCTAssertEqual(plain.port, 80)
        XCTAssertEqual(try target("WSS://example.com:8443/").port, 8443)
    }

    func test_clientHandshakeTarget_rejectsHTTP_withInvalidURL() {
        assertInvalidURL("http://example.com/")
        assertInvalidURL("https://example.com/")
    }

    func test_clientHandshakeTarget_rejectsMissingHostOrBadPort_withInvalidURL() {
        for url in ["ws://", "ws:///path", "ws://:80/", "ws://[]/", "ws://localhost:0/", "ws://localhost:65536/", "localhost:8080", "ws://a b/"] {
            assertInvalidURL(url)
        }
    }

    // MARK: - Request

    func test_clientHandshake_request_containsRequiredHeaders() throws {
        let head = try parsedRequest(client())
        XCTAssertEqual(head.method, "GET")
        XCTAssertEqual(head.target, "/p?q=1")
        XCTAssertEqual(head.version, "HTTP/1.1")
        XCTAssertEqual(head["Host"], "localhost:8080")
        XCTAssertEqual(head["Upgrade"], "websocket")
        XCTAssertEqual(head["Connection"], "Upgrade")
        XCTAssertEqual(head["Sec-WebSocket-Key"], rfcKey)
        XCTAssertEqual(head["Sec-WebSocket-Version"], "13")
        XCTAssertNil(head["Sec-WebSocket-Protocol"], "no subprotocols offered")
        XCTAssertNil(head["Sec-WebSocket-Extensions"])
    }

    func test_clientHandshake_request_containsSubprotocolsAndExtraHeaders() throws {
        let handshake = try client(subprotocols: ["chat.v2", "chat.v1"],
                                   extraHeaders: [("Origin", "http://localhost"), ("Authorization", "Bearer abc")])
        let head = try parsedRequest(handshake)
        XCTAssertEqual(head["Sec-WebSocket-Protocol"], "chat.v2, chat.v1")
        XCTAssertEqual(head.tokens("Sec-WebSocket-Protocol", lowercased: false), ["chat.v2", "chat.v1"])
        XCTAssertEqual(head["Origin"], "http://localhost")
        XCTAssertEqual(head["Authorization"], "Bearer abc")
    }

    func test_clientHandshake_request_isAcceptedByServerHandshake() throws {
        let handshake = try client("ws://localhost:8080/parley?token=a%20b", subprotocols: ["chat.v1", "chat.v2"],
                                   extraHeaders: [("Origin", "http://localhost")])
        let head = try parsedRequest(handshake)
        XCTAssertEqual(head.query["token"], "a b")
        let server = ServerHandshake(path: "/parley", allowedOrigins: ["http://localhost"], subprotocols: ["chat.v2"], routes: [:])
        guard case .upgrade(let response, let subprotocol) = server.decide(head, hasCapacity: true) else {
            return XCTFail("server refused the client's request")
        }
        XCTAssertEqual(subprotocol, "chat.v2")
        var parser = HTTPHeadParser(maxBytes: 8192)
        guard case .complete(let lines, _) = try response.encoded().withUnsafeBytes({ try parser.feed($0) }) else {
            return XCTFail("response head incomplete")
        }
        XCTAssertEqual(try handshake.validate(responseLines: lines), "chat.v2")
    }

    func test_clientHandshake_generatesRandom16ByteKey() throws {
        let target = try target("ws://localhost/")
        let first = ClientHandshake(target: target).key
        let second = ClientHandshake(target: target).key
        XCTAssertEqual(Data(base64Encoded: first)?.count, 16)
        XCTAssertEqual(Data(base64Encoded: second)?.count, 16)
        XCTAssertNotEqual(first, second)
    }

    // MARK: - Validating the response

    func test_clientHandshake_validate_acceptsCorrect101() throws {
        XCTAssertNil(try client().validate(responseLines: response()))
    }

    func test_clientHandshake_validate_acceptsCaseInsensitiveTokens() throws {
        let lines = ["HTTP/1.1 101 Switching Protocols", "upgrade: WebSocket", "connection: keep-alive, UPGRADE",
                     "sec-websocket-accept: \(rfcAccept)"]
        XCTAssertNil(try client().validate(responseLines: lines))
    }

    func test_clientHandshake_validate_returnsRequestedSubprotocol() throws {
        let handshake = try client(subprotocols: ["chat.v2", "chat.v1"])
        XCTAssertEqual(try handshake.validate(responseLines: response(extra: ["Sec-WebSocket-Protocol: chat.v1"])), "chat.v1")
        XCTAssertNil(try handshake.validate(responseLines: response()), "the server may pick none")
    }

    func test_clientHandshake_validate_rejectsWrongAccept() throws {
        let handshake = try client()
        let wrong = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
                     "Sec-WebSocket-Accept: \(ServerHandshake.acceptValue(forKey: "AAAAAAAAAAAAAAAAAAAAAA=="))"]
        assertValidateThrows(.invalidHandshakeResponse("wrong Sec-WebSocket-Accept"), handshake, wrong)
        assertValidateThrows(.invalidHandshakeResponse("wrong Sec-WebSocket-Accept"), handshake,
                             response(dropping: "Sec-WebSocket-Accept"))
    }

    func test_clientHandshake_validate_rejectsMissingUpgrade() throws {
        assertValidateThrows(.invalidHandshakeResponse("no Upgrade: websocket"), try client(), response(dropping: "Upgrade"))
    }

    func test_clientHandshake_validate_rejectsMissingConnectionUpgrade() throws {
        assertValidateThrows(.invalidHandshakeResponse("no Connection: Upgrade"), try client(), response(dropping: "Connection"))
    }

    func test_clientHandshake_validate_rejectsNon101_withHandshakeRejected() throws {
        let handshake = try client()
        assertValidateThrows(.handshakeRejected(status: 403, reason: "Forbidden"), handshake,
                             ["HTTP/1.1 403 Forbidden", "Content-Length: 10"])
        assertValidateThrows(.handshakeRejected(status: 200, reason: "OK"), handshake, response("HTTP/1.1 200 OK"))
        assertValidateThrows(.handshakeRejected(status: 426, reason: "Upgrade Required"), handshake,
                             ["HTTP/1.1 426 Upgrade Required", "Sec-WebSocket-Version: 13"])
        assertValidateThrows(.handshakeRejected(status: 404, reason: ""), handshake, ["HTTP/1.1 404"])
    }

    func test_clientHandshake_validate_rejectsMalformedStatusLine() throws {
        let handshake = try client()
        for status in ["", "HTTP/1.1", "HTTP/1.1 abc Switching", "ICY 101 Switching Protocols"] {
            assertValidateThrows(.invalidHandshakeResponse("malformed status line"), handshake, response(status))
        }
        assertValidateThrows(.invalidHandshakeResponse("empty response"), handshake, [])
    }

    func test_clientHandshake_validate_rejectsMalformedHeaderLine() throws {
        assertValidateThrows(.invalidHandshakeResponse("malformed header line"), try client(), response(extra: [" folded"]))
    }

    func test_clientHandshake_validate_rejectsUnrequestedSubprotocol() throws {
        assertValidateThrows(.invalidHandshakeResponse("unrequested subprotocol chat"), try client(),
                             response(extra: ["Sec-WebSocket-Protocol: chat"]))
        assertValidateThrows(.invalidHandshakeResponse("unrequested subprotocol chat.v3"), try client(subprotocols: ["chat.v1"]),
                             response(extra: ["Sec-WebSocket-Protocol: chat.v3"]))
    }

    func test_clientHandshake_validate_rejectsUnrequestedExtensions() throws {
        assertValidateThrows(.invalidHandshakeResponse("unrequested extension"), try client(),
                             response(extra: ["Sec-WebSocket-Extensions: permessage-deflate"]))
    }
}
