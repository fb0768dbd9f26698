import Foundation
import Synchronization
import XCTest
@testable import ParleyWebSocket

/// Persistent HTTP connections (RFC 9112 9.3): several requests on one TCP connection, one at
/// a time and in order, closed on request, on error, and after the keep-alive timeout.
final class ServerKeepAliveTests: XCTestCase {
    /// A server with an endpoint under `/api/`: `/api/held` waits for the test to answer it
    /// (through `held`), anything else is answered at once with the method, target and body.
    private func startKeepAliveServer(held: Inbox<HTTPResponder>? = nil,
                                      configure: (inout WebSocketServer.Configuration) -> Void = { _ in }) throws -> TestServer {
        try startEchoServer { configuration in
            configuration.endpoints = [HTTPEndpoint(prefix: "/api/") { request, responder in
                if request.head.path == "/api/held", let held { return held.put(responder) }
                let text = "\(request.head.method) \(request.head.target) \(String(decoding: request.body, as: UTF8.self))"
                responder.respond(HTTPResponse(status: 200, body: Array(text.utf8)))
            }]
            configure(&configuration)
        }
    }

    private func text(_ response: (head: HTTPHead, body: [UInt8])?) -> String {
        response.map { String(decoding: $0.body, as: UTF8.self) } ?? "<no response>"
    }

    func test_connection_answersSeveralRequests_inTurn() throws {
        let server = try startKeepAliveServer()
        let client = try RawClient(port: server.port)
        defer { client.close() }
        try client.send("GET /api/a?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        let first = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(first.head["Connection"], "keep-alive")
        XCTAssertEqual(first.head["Keep-Alive"], "timeout=5")
        XCTAssertEqual(text(first), "GET /api/a?x=1 ")
        try client.send("POST /api/b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        XCTAssertEqual(text(client.readResponse()), "POST /api/b hello")
        try client.send("GET /api/c HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(text(client.readResponse()), "GET /api/c ")
    }

    func test_connection_closesAfterAnswer_whenRequestSaysClose() throws {
        let server = try startKeepAliveServer()
        let client = try RawClient(port: server.port)
        defer { client.close() }
        try client.send("GET /api/a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.head["Connection"], "close")
        XCTAssertEqual(text(response), "GET /api/a ")
        XCTAssertTrue(client.awaitEOF(), "the server closes after the answer")
    }

    func test_http10_closesAfterAnswer_withoutKeepAliveOption() throws {
        let server = try startKeepAliveServer()
        let client = try RawClient(port: server.port)
        defer { client.close() }
        try client.send("GET /api/a HTTP/1.0\r\nHost: a\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.head["Connection"], "close")
        XCTAssertTrue(client.awaitEOF())
    }

    func test_http10_keepsConnection_withKeepAliveOption() throws {
        let server = try startKeepAliveServer()
        let client = try RawClient(port: server.port)
        defer { client.close() }
        try client.send("GET /api/a HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.head["Connection"], "keep-alive", "HTTP/1.0 needs the option echoed")
        try client.send("GET /api/b HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(text(client.readResponse()), "GET /api/b ")
    }

    func test_pipelinedRequests_areAnsweredInOrder_afterAHeldOne() async throws {
        let held = Inbox<HTTPResponder>()
        let server = try startKeepAliveServer(held: held)
        let client = try RawClient(port: server.port)
        defer { client.close() }
        // Three requests in one write: the first is held, the second has a body, the third follows it.
        try client.send("GET /api/held HTTP/1.1\r\nHost: a\r\n\r\n"
            + "POST /api/second HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
            + "GET /api/third HTTP/1.1\r\nHost: a\r\n\r\n")
        let responder = try await held.expectNext("the held request")
        responder.respond(HTTPResponse(status: 200, body: Array("first".utf8)))
        XCTAssertEqual(text(client.readResponse()), "first")
        XCTAssertEqual(text(client.readResponse()), "POST /api/second abc")
        XCTAssertEqual(text(client.readResponse()), "GET /api/third ")
    }

    func test_pipelinedRequests_inOneWrite_getTwoAnswersInOrder() throws {
        let server = try startKeepAliveServer()
        let client = try RawClient(port: server.port)
        defer { client.close() }
        try client.send("GET /api/one HTTP/1.1\r\nHost: a\r\n\r\nGET /api/two HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(text(client.readResponse()), "GET /api/one ")
        XCTAssertEqual(text(client.readResponse()), "GET /api/two ")
    }

    func test_idleConnection_isClosed_afterKeepAliveTimeout() throws {
        let server = try startKeepAliveServer { $0.keepAliveTimeout = .milliseconds(300) }
        let client = try RawClient(port: server.port, timeout: .seconds(3))
        defer { client.close() }
        try client.send("GET /api/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.head["Connection"], "keep-alive")
        let start = ContinuousClock.now
        let (bytes, end) = client.readToEnd()
        XCTAssertEqual(end, .eof, "an idle connection is closed")
        XCTAssertEqual(bytes, [])
        XCTAssertGreaterThanOrEqual(secondsSince(start), 0.25, "closed before the keep-alive timeout")
        XCTAssertEqual(server.server.metrics.handshakeTimeouts, 0, "an idle connection is not a slow handshake")
    }

    func test_nextRequestHead_hasTheHandshakeTimeout_onceStarted() throws {
        let server = try startKeepAliveServer {
            $0.keepAliveTimeout = .seconds(30)
            $0.handshakeTimeout = .milliseconds(300)
        }
        let client = try RawClient(port: server.port, timeout: .seconds(3))
        defer { client.close() }
        try client.send("GET /api/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertNotNil(client.readResponse())
        try client.send("GET /api/b HTTP/1.1\r\n")  // never finished
        XCTAssertEqual(client.readToEnd().end, .eof, "a slow second head is dropped like a slow first one")
        XCTAssertEqual(server.server.metrics.handshakeTimeouts, 1)
    }

    func test_malformedSecondRequest_gets400AndClose_whileOthersAreServed() throws {
        let server = try startKeepAliveServer()
        let client = try RawClient(port: server.port)
        defer { client.close() }
        let other = try RawClient(port: server.port)
        defer { other.close() }
        try client.send("GET /api/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(text(client.readResponse()), "GET /api/a ")
        try other.send("GET /api/other HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(text(other.readResponse()), "GET /api/other ")
        try client.send("NOT A REQUEST\r\n\r\n")
        let refused = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(refused.head.status, 400)
        XCTAssertEqual(refused.head["Connection"], "close")
        XCTAssertTrue(client.awaitEOF())
        try other.send("GET /api/again HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(text(other.readResponse()), "GET /api/again ", "the other connection goes on")
    }

    func test_request_withUnreadBody_closesAfterAnswer() throws {
        let server = try startKeepAliveServer()
        let client = try RawClient(port: server.port)
        defer { client.close() }
        try client.send("POST /api/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.head.status, 411)
        XCTAssertEqual(response.head["Connection"], "close", "where the next request starts is unknown")
        XCTAssertTrue(client.awaitEOF())
    }

    func test_upgrade_succeeds_onConnectionThatServedARequest() throws {
        let server = try startKeepAliveServer()
        let client = try RawClient(port: server.port)
        defer { client.close() }
        try client.send("GET /api/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(text(client.readResponse()), "GET /api/a ")
        try client.upgrade(path: "/")
        try client.sendFrame(.text, Array("echo".utf8))
        XCTAssertEqual(client.readFrame()?.payload, Array("echo".utf8))
    }

    func test_keptAliveConnections_countTowardPerAddressCap() throws {
        let server = try startKeepAliveServer { $0.maxHandshakesPerAddress = 2 }
        var clients: [RawClient] = []
        defer { clients.forEach { $0.close() } }
        var answers: [String?] = []
        for _ in 0..<3 {
            let client = try RawClient(port: server.port)
            clients.append(client)
            try client.send("GET /api/a HTTP/1.1\r\nHost: a\r\n\r\n")
            answers.append(client.readResponse()?.head["Connection"])
        }
        XCTAssertEqual(answers, ["keep-alive", "keep-alive", "close"], "past the cap, an answer closes")
        XCTAssertTrue(clients[2].awaitEOF())
        // A new connection is not refused for the waiting ones.
        let fresh = try RawClient(port: server.port)
        defer { fresh.close() }
        try fresh.send("GET /api/b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(text(fresh.readResponse()), "GET /api/b ")
    }

    func test_bytesPastTheBound_afterARequest_closeAfterItsAnswer() async throws {
        let held = Inbox<HTTPResponder>()
        let server = try startKeepAliveServer(held: held) { $0.maxHeaderBytes = 1024 }
        let client = try RawClient(port: server.port)
        defer { client.close() }
        // One write: the server reads the bytes after the head with it, before any answer.
        try client.send("GET /api/held HTTP/1.1\r\nHost: a\r\n\r\n" + String(repeating: "x", count: 2048))
        let responder = try await held.expectNext("the held request")
        responder.respond(HTTPResponse(status: 200, body: Array("first".utf8)))
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(text(response), "first")
        XCTAssertEqual(response.head["Connection"], "close", "more than a head's worth of bytes is not kept")
        XCTAssertTrue(client.awaitEOF())
    }

    func test_keepAliveOff_closesEveryAnswer() throws {
        let server = try startKeepAliveServer { $0.keepAliveTimeout = nil }
        let client = try RawClient(port: server.port)
        defer { client.close() }
        try client.send("GET /api/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.head["Connection"], "close")
        XCTAssertTrue(client.awaitEOF())
    }
}
