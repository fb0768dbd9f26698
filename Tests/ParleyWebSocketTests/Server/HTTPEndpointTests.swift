import Foundation
import Synchronization
import XCTest
@testable import ParleyWebSocket

/// Requests under an endpoint's prefix: bodies, answers given later, limits, upgrades.
final class HTTPEndpointTests: XCTestCase {
    private func startEndpointServer(maxBodyBytes: Int = 1000,
                                     _ handler: @escaping @Sendable (HTTPServerRequest, HTTPResponder) -> Void) throws -> TestServer {
        try startServer(configure: { configuration in
            configuration.path = "/ws"
            configuration.endpoints = [HTTPEndpoint(prefix: "/api/", maxBodyBytes: maxBodyBytes, handler: handler)]
        }) { _, _ in }
    }

    private func response(_ request: String, port: Int) throws -> (head: HTTPHead, body: String) {
        let client = try RawClient(port: port)
        defer { client.close() }
        try client.send(request)
        let (head, body) = try XCTUnwrap(client.readResponse())
        return (head, String(decoding: body, as: UTF8.self))
    }

    func test_endpoint_receivesBody_andAnswers() throws {
        let server = try startEndpointServer { request, responder in
            responder.respond(HTTPResponse(status: 200, body: Array("\(request.head.method) \(request.head.target) ".utf8) + request.body))
        }
        let (head, body) = try response("POST /api/x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", port: server.port)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(body, "POST /api/x?y=1 hello")
    }

    func test_endpoint_answersLater_fromAnotherThread() async throws {
        let held = Inbox<HTTPResponder>()
        let server = try startEndpointServer { _, responder in held.put(responder) }
        let client = try RawClient(port: server.port)
        defer { client.close() }
        try client.send("GET /api/poll HTTP/1.1\r\nHost: a\r\n\r\n")
        let responder = try await held.expectNext("the held request")
        DispatchQueue.global().async { responder.respond(HTTPResponse(status: 200, body: Array("late".utf8))) }
        let (head, body) = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(String(decoding: body, as: UTF8.self), "late")
        responder.respond(HTTPResponse(status: 500))   // a second answer does nothing
    }

    func test_endpoint_refusesBodyOverLimit_with413() throws {
        let server = try startEndpointServer(maxBodyBytes: 4) { _, responder in responder.respond(HTTPResponse(status: 200)) }
        XCTAssertEqual(try response("POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", port: server.port).head.status, 413)
    }

    func test_endpoint_refusesChunkedBody_with411() throws {
        let server = try startEndpointServer { _, responder in responder.respond(HTTPResponse(status: 200)) }
        XCTAssertEqual(try response("POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", port: server.port).head.status, 411)
    }

    func test_endpoint_refusesMalformedContentLength_with400() throws {
        let server = try startEndpointServer { _, responder in responder.respond(HTTPResponse(status: 200)) }
        XCTAssertEqual(try response("POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", port: server.port).head.status, 400)
    }

    func test_endpoint_reportsCancel_whenClientLeavesWhileHeld() async throws {
        let cancelled = Inbox<Bool>()
        let held = Inbox<Bool>()
        let server = try startEndpointServer { _, responder in
            responder.onCancel { cancelled.put(true) }
            held.put(true)
        }
        let client = try RawClient(port: server.port)
        try client.send("GET /api/poll HTTP/1.1\r\nHost: a\r\n\r\n")
        _ = try await held.expectNext("the held request")
        client.close()
        let value = await cancelled.next()
        XCTAssertEqual(value, true)
    }

    func test_endpoint_upgrades_afterTheRFC6455Checks() async throws {
        let server = try startEndpointServer { _, responder in
            responder.upgrade { socket in socket.onMessage { socket, message in socket.send(message) } }
        }
        let probe = try await connectClient(to: server.url("/api/ws?x=1"))
        probe.socket.send(text: "echo")
        let message = try await probe.messages.expectNext("the echo")
        XCTAssertEqual(message, WebSocketMessage.text("echo"))
        // The same checks as the WebSocket path: a GET without Upgrade gets 426.
        XCTAssertEqual(try response("GET /api/ws HTTP/1.1\r\nHost: a\r\n\r\n", port: server.port).head.status, 426)
    }

    func test_endpoint_leavesOtherPathsToTheServer() throws {
        let server = try startEndpointServer { _, responder in responder.respond(HTTPResponse(status: 200)) }
        XCTAssertEqual(try response("GET /other HTTP/1.1\r\nHost: a\r\n\r\n", port: server.port).head.status, 404)
    }

    // MARK: Expect: 100-continue (RFC 9110 10.1.1)

    private func echoBody() throws -> TestServer {
        try startEndpointServer { request, responder in
            responder.respond(HTTPResponse(status: 200, body: Array("\(request.head.method) ".utf8) + request.body))
        }
    }

    func test_endpoint_answers100Continue_thenTheRequest_whenTheClientWaitsToSendTheBody() throws {
        let server = try echoBody()
        let client = try RawClient(port: server.port)
        defer { client.close() }
        try client.send("POST /api/x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n")
        let interim = try XCTUnwrap(client.readResponse(toHead: true), "the interim answer comes before the body is sent")
        XCTAssertEqual(interim.head.status, 100)
        try client.send("hello")
        let (head, body) = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(String(decoding: body, as: UTF8.self), "POST hello")
        // On the same connection, the next request with its body in the same write gets no 100.
        try client.send("POST /api/x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc")
        let next = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(next.head.status, 200)
        XCTAssertEqual(String(decoding: next.body, as: UTF8.self), "POST abc")
    }

    func test_endpoint_answersFinalStatusWithout100_whenTheBodyIsTooLarge() throws {
        let server = try echoBody()
        let (head, _) = try response("POST /api/x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
                                     port: server.port)
        XCTAssertEqual(head.status, 413, "refused before the body is sent")
    }

    func test_endpoint_answers417_forAnExpectationItDoesNotKnow() throws {
        let server = try echoBody()
        let (head, body) = try response("POST /api/x HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\nhi",
                                        port: server.port)
        XCTAssertEqual(head.status, 417)
        XCTAssertEqual(body, "Expectation Failed\n")
        XCTAssertEqual(server.server.metrics.refusals[0], 1, "counted with the other statuses")
    }

    func test_endpoint_ignoresTheExpectation_ofAnHTTP10Request() throws {
        let server = try echoBody()
        let client = try RawClient(port: server.port, timeout: .milliseconds(500))
        defer { client.close() }
        try client.send("POST /api/x HTTP/1.0\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        XCTAssertNil(client.readResponse(toHead: true), "no interim answer to HTTP/1.0 (RFC 9110 10.1.1)")
        try client.send("hello")
        let (head, body) = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(String(decoding: body, as: UTF8.self), "POST hello")
    }
}
