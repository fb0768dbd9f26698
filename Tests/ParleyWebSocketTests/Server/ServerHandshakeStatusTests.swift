import Foundation
import XCTest
@testable import ParleyWebSocket

/// The server's answers to opening handshakes and plain HTTP requests, over a real socket.
final class ServerHandshakeStatusTests: XCTestCase {
    /// Sends `request` on a fresh raw connection; returns the response head, the body, and
    /// whether the server then closed the connection (a kept-alive one is read by its length).
    private func exchange(_ request: String, port: Int, file: StaticString = #filePath, line: UInt = #line)
        throws -> (head: HTTPHead, body: [UInt8], closed: Bool) {
        let client = try RawClient(port: port)
        defer { client.close() }
        let head = try XCTUnwrap(try client.exchange(request), "no response head", file: file, line: line)
        if head["Connection"]?.lowercased() == "keep-alive" {
            let length = request.hasPrefix("HEAD ") || head.status == 304 ? 0 : Int(head["Content-Length"] ?? "0") ?? 0
            let body = try XCTUnwrap(client.readBytes(length), "no body", file: file, line: line)
            return (head, body, false)
        }
        let rest = client.readToEnd()
        return (head, rest.bytes, rest.end == .eof)
    }

    /// Asserts a refusal: the status, a `text/plain` body matching `Content-Length`, and a closed connection.
    private func assertRefused(_ request: String, port: Int, status: Int,
                               file: StaticString = #filePath, line: UInt = #line) throws -> HTTPHead {
        let (head, body, closed) = try exchange(request, port: port, file: file, line: line)
        XCTAssertEqual(head.status, status, "status line: \(head.statusLine)", file: file, line: line)
        XCTAssertEqual(head["Content-Length"], String(body.count), file: file, line: line)
        XCTAssertEqual(head["Connection"]?.lowercased(), "close", file: file, line: line)
        XCTAssertTrue(closed, "the server must close the connection after a refusal", file: file, line: line)
        return head
    }

    func test_upgrade_returns404_whenPathIsNotTheWebSocketPath() throws {
        let server = try startEchoServer()
        let head = try assertRefused(RawClient.upgradeRequest(path: "/missing"), port: server.port, status: 404)
        XCTAssertEqual(head.statusLine, "HTTP/1.1 404 Not Found")
    }

    func test_upgrade_returns426_whenUpgradeHeaderIsMissing() throws {
        let server = try startEchoServer()
        let head = try assertRefused(RawClient.upgradeRequest(headers: ["Upgrade": nil]), port: server.port, status: 426)
        XCTAssertEqual(head["Upgrade"], "websocket")
    }

    func test_upgrade_returns400_whenConnectionHeaderLacksUpgrade() throws {
        let server = try startEchoServer()
        _ = try assertRefused(RawClient.upgradeRequest(headers: ["Connection": "keep-alive"]), port: server.port, status: 400)
    }

    func test_upgrade_returns426WithVersion13_whenVersionIs8() throws {
        let server = try startEchoServer()
        let head = try assertRefused(RawClient.upgradeRequest(headers: ["Sec-WebSocket-Version": "8"]), port: server.port, status: 426)
        XCTAssertTrue(head.text.contains("\r\nSec-WebSocket-Version: 13\r\n"), "response head:\n\(head)")
    }

    func test_upgrade_returns400_whenKeyIsNotBase64Of16Bytes() throws {
        let server = try startEchoServer()
        _ = try assertRefused(RawClient.upgradeRequest(headers: ["Sec-WebSocket-Key": "dG9vIHNob3J0"]), port: server.port, status: 400)
        _ = try assertRefused(RawClient.upgradeRequest(headers: ["Sec-WebSocket-Key": "not base64!"]), port: server.port, status: 400)
        _ = try assertRefused(RawClient.upgradeRequest(headers: ["Sec-WebSocket-Key": nil]), port: server.port, status: 400)
    }

    func test_request_returns400_whenRequestLineIsMalformed() throws {
        let server = try startEchoServer()
        _ = try assertRefused("GARBAGE\r\nHost: x\r\n\r\n", port: server.port, status: 400)
        _ = try assertRefused("GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", port: server.port, status: 400)
        _ = try assertRefused("GET nopath HTTP/1.1\r\nHost: x\r\n\r\n", port: server.port, status: 400)
    }

    func test_request_returns431_whenHeaderBlockExceeds16KiB() throws {
        let server = try startEchoServer()
        let filler = String(repeating: "a", count: 17 * 1024)
        _ = try assertRefused(RawClient.upgradeRequest(headers: ["X-Filler": filler]), port: server.port, status: 431)
    }

    func test_request_returns431_whenUnterminatedHeadKeepsGrowingPastTheLimit() throws {
        let server = try startEchoServer()
        let client = try RawClient(port: server.port)
        defer { client.close() }
        // No blank line ever: the server must refuse once it holds more than 16 KiB.
        try client.send("GET / HTTP/1.1\r\nX-Filler: " + String(repeating: "b", count: 20 * 1024))
        let head = try XCTUnwrap(client.readHead(), "no response to an endless head")
        XCTAssertEqual(head.status, 431)
    }

    func test_request_isAnswered_whenHeaderBlockIsJustUnderTheLimit() throws {
        let server = try startEchoServer()
        let base = RawClient.upgradeRequest(headers: ["X-Filler": ""])
        let filler = String(repeating: "c", count: 16 * 1024 - base.utf8.count)
        let request = RawClient.upgradeRequest(headers: ["X-Filler": filler])
        XCTAssertEqual(request.utf8.count, 16 * 1024)
        let client = try RawClient(port: server.port)
        defer { client.close() }
        XCTAssertEqual(try client.exchange(request)?.status, 101)
    }

    func test_upgrade_returns403_whenOriginIsNotAllowed() throws {
        let server = try startEchoServer { $0.allowedOrigins = ["https://good.example"] }
        _ = try assertRefused(RawClient.upgradeRequest(headers: ["Origin": "https://evil.example"]), port: server.port, status: 403)
    }

    func test_upgrade_returns101_whenOriginIsAbsentOrAllowed() throws {
        let server = try startEchoServer { $0.allowedOrigins = ["https://good.example"] }
        for origin in [nil, "https://good.example", "HTTPS://GOOD.example"] {
            let client = try RawClient(port: server.port)
            defer { client.close() }
            let request = RawClient.upgradeRequest(headers: ["Origin": origin])
            XCTAssertEqual(try client.exchange(request)?.status, 101, "Origin: \(origin ?? "(none)")")
        }
    }

    func test_upgrade_returns503_whenMaxClientsAreConnected_untilOneLeaves() async throws {
        let serverCloses = Inbox<CloseEvent>()
        let serverSockets = Inbox<WebSocket>()
        let server = try startEchoServer(configure: { $0.maxClients = 1 }) { socket, _ in
            socket.onClose { _, code, reason in serverCloses.put(CloseEvent(code: code, reason: reason)) }
            serverSockets.put(socket)
        }
        let first = try await connectClient(to: server.url())
        let firstOnServer = try await serverSockets.expectNext("onConnection")
        XCTAssertEqual(server.server.connectionCount, 1)

        let refused = try assertRefused(RawClient.upgradeRequest(), port: server.port, status: 503)
        XCTAssertEqual(refused["Retry-After"], "1")

        first.socket.close(code: .normalClosure)
        let serverClose = try await serverCloses.expectNext("the server to see the first client leave")
        XCTAssertEqual(serverClose.code, .normalClosure)
        // The slot is freed on the loop right after onClose returns: a task queued there now runs after it.
        await runOnLoop(of: firstOnServer) {}
        XCTAssertEqual(server.server.connectionCount, 0)

        let next = try RawClient(port: server.port)
        defer { next.close() }
        XCTAssertEqual(try next.exchange(RawClient.upgradeRequest())?.status, 101, "the freed slot was not reused")
    }

    func test_route_returns200WithContentHeadersAndBody_onGet() throws {
        let body = Array("{\"status\":\"ok\"}\n".utf8)
        let server = try startEchoServer {
            $0.routes["/health"] = HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: body)
        }
        let (head, received, closed) = try exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", port: server.port)
        XCTAssertEqual(head.statusLine, "HTTP/1.1 200 OK")
        XCTAssertEqual(head["Content-Type"], "application/json")
        XCTAssertEqual(head["Content-Length"], String(body.count))
        XCTAssertEqual(received, body)
        XCTAssertFalse(closed, "an HTTP/1.1 answer keeps the connection")
        XCTAssertEqual(head["Connection"], "keep-alive")
    }

    func test_route_returnsHeadersWithoutBody_onHead() throws {
        let body = Array("hello\n".utf8)
        let server = try startEchoServer {
            $0.routes["/health"] = HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: body)
        }
        let (head, received, closed) = try exchange("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n", port: server.port)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head["Content-Type"], "text/plain")
        XCTAssertEqual(head["Content-Length"], String(body.count))
        XCTAssertEqual(received, [], "HEAD must not carry a body")
        XCTAssertFalse(closed)
    }

    func test_route_returns304WithoutBody_whenIfNoneMatchIsTheEntityTag() throws {
        let resource = HTTPResponse.resource(Array("console.log(1)\n".utf8), contentType: "text/javascript")
        let tag = try XCTUnwrap(resource.entityTag)
        let server = try startEchoServer { $0.routes["/app.js"] = resource }
        let (first, body, _) = try exchange("GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n", port: server.port)
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first["ETag"], tag)
        XCTAssertEqual(body, resource.body)
        let (head, received, closed) = try exchange("GET /app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: \(tag)\r\n\r\n", port: server.port)
        XCTAssertEqual(head.statusLine, "HTTP/1.1 304 Not Modified")
        XCTAssertEqual(head["ETag"], tag)
        XCTAssertNil(head["Content-Length"])
        XCTAssertEqual(received, [])
        XCTAssertFalse(closed)
    }

    func test_route_returns405_onPost() throws {
        let server = try startEchoServer { $0.routes["/health"] = HTTPResponse(status: 200, body: Array("x".utf8)) }
        let head = try assertRefused("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                                     port: server.port, status: 405)
        XCTAssertEqual(head["Allow"], "GET, HEAD")
    }

    func test_route_keepsConnection_after405_whenBodyWasRead() throws {
        let server = try startEchoServer { $0.routes["/health"] = HTTPResponse(status: 200, body: Array("x".utf8)) }
        let (head, _, closed) = try exchange("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", port: server.port)
        XCTAssertEqual(head.status, 405)
        XCTAssertEqual(head["Connection"], "keep-alive")
        XCTAssertFalse(closed)
    }

    func test_route_closesConnection_whenRequestHasUnreadBody() throws {
        let server = try startEchoServer { $0.routes["/health"] = HTTPResponse(status: 200, body: Array("x".utf8)) }
        _ = try assertRefused("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", port: server.port, status: 405)
    }

    func test_handshake_isDroppedWithoutResponse_whenHeadIsIncompleteAfterHandshakeTimeout() throws {
        let server = try startEchoServer { $0.handshakeTimeout = .milliseconds(300) }
        let client = try RawClient(port: server.port, timeout: .seconds(3))
        defer { client.close() }
        let start = ContinuousClock.now
        try client.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")  // never finished
        let (bytes, end) = client.readToEnd()
        let elapsed = secondsSince(start)
        XCTAssertEqual(end, .eof, "the server must close a connection whose head is not complete in time")
        XCTAssertEqual(bytes, [], "a slow head gets no answer, only a closed connection")
        XCTAssertGreaterThanOrEqual(elapsed, 0.25, "closed before the handshake timeout")
        XCTAssertLessThan(elapsed, 2.5)
    }

    func test_handshake_isDropped_whenClientSendsNothingWithinHandshakeTimeout() throws {
        let server = try startEchoServer { $0.handshakeTimeout = .milliseconds(300) }
        let client = try RawClient(port: server.port, timeout: .seconds(3))
        defer { client.close() }
        let (bytes, end) = client.readToEnd()
        XCTAssertEqual(end, .eof)
        XCTAssertEqual(bytes, [])
    }

    func test_subprotocol_isServersSupportedChoice_whenClientOffersSeveral() async throws {
        let serverSide = Inbox<String?>()
        let server = try startEchoServer(configure: { $0.subprotocols = ["a"] }) { socket, _ in
            serverSide.put(socket.subprotocol)
        }
        let client = try await connectClient(to: server.url()) { $0.subprotocols = ["b", "a"] }
        XCTAssertEqual(client.socket.subprotocol, "a")
        let negotiated = try await serverSide.expectNext("onConnection")
        XCTAssertEqual(negotiated, "a")
    }

    func test_subprotocol_isNil_whenNoOfferedProtocolIsSupported() async throws {
        let serverSide = Inbox<String?>()
        let server = try startEchoServer(configure: { $0.subprotocols = ["a"] }) { socket, _ in
            serverSide.put(socket.subprotocol)
        }
        let client = try await connectClient(to: server.url()) { $0.subprotocols = ["c"] }
        XCTAssertNil(client.socket.subprotocol)
        let negotiated = try await serverSide.expectNext("onConnection")
        XCTAssertNil(negotiated)
    }
}
