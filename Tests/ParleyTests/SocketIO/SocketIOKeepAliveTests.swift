import Foundation
import TestSupport
import XCTest
@testable import Parley

/// Engine.IO long-polling over persistent HTTP connections: a polling session's requests share
/// TCP connections (raw sockets), and stock clients reuse theirs (python-socketio through a
/// counting proxy).
final class SocketIOKeepAliveTests: XCTestCase {
    /// A server whose `add` event answers `sum`, and whose `whoami` call answers the socket id;
    /// no ping during a test (a held poll is answered by data only).
    private func startKeepAliveServer(_ configure: (inout Server.Configuration) -> Void = { _ in }) throws -> Server {
        let io = try startServer { configuration in
            configuration.pingInterval = .seconds(20)
            configuration.pingTimeout = .seconds(20)
            configure(&configuration)
        }
        io.onConnection { socket in
            socket.on("add") { (a: Int, b: Int) in try? socket.emit("sum", a + b) }
            socket.on("whoami") { (ack: Ack) in ack(socket.id) }
        }
        return io
    }

    private static let polling = "/socket.io/?EIO=4&transport=polling"

    private func request(_ method: String, _ target: String, headers: [String] = [], body: String = "") -> String {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for header in headers { text += header + "\r\n" }
        if method == "POST" { text += "Content-Length: \(body.utf8.count)\r\n" }
        return text + "\r\n" + body
    }

    /// Sends `request` on `client` and returns the status, the head's lines and the body.
    private func exchange(_ client: RawClient, _ request: String) throws -> (status: Int, head: [String], body: String) {
        let (head, body) = try client.http(request)
        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? -1
        return (status, head, String(decoding: body, as: UTF8.self))
    }

    /// The polling handshake on `client`; returns the session id.
    private func open(_ client: RawClient, headers: [String] = []) throws -> String {
        let answer = try exchange(client, request("GET", Self.polling, headers: headers))
        XCTAssertEqual(answer.status, 200)
        XCTAssertTrue(answer.head.contains("Connection: keep-alive"), "\(answer.head)")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(answer.body.dropFirst().utf8)) as? [String: Any], answer.body)
        return try XCTUnwrap(json["sid"] as? String)
    }

    // MARK: Raw sockets

    func test_polling_handshakePostAndPoll_shareOneConnection() throws {
        let io = try startKeepAliveServer()
        let client = try RawClient(port: io.port)
        defer { client.close() }
        let sid = try open(client)
        let session = Self.polling + "&sid=\(sid)"
        XCTAssertEqual(try exchange(client, request("POST", session, body: "40")).body, "ok")
        let connected = try exchange(client, request("GET", session)).body
        XCTAssertTrue(connected.hasPrefix(#"40{"sid":""#), connected)
        XCTAssertEqual(try exchange(client, request("POST", session, body: #"42["add",2,3]"#)).body, "ok")
        XCTAssertEqual(try exchange(client, request("GET", session)).body, #"42["sum",5]"#)
    }

    func test_heldPoll_isAnsweredOnItsConnection_andTheNextPollReusesIt() throws {
        let io = try startKeepAliveServer()
        let poller = try RawClient(port: io.port, timeout: .seconds(5))
        defer { poller.close() }
        let poster = try RawClient(port: io.port)
        defer { poster.close() }
        let sid = try open(poller)
        let session = Self.polling + "&sid=\(sid)"
        XCTAssertEqual(try exchange(poster, request("POST", session, body: "40")).body, "ok")
        XCTAssertTrue(try exchange(poller, request("GET", session)).body.hasPrefix("40"))
        for (a, b) in [(2, 3), (20, 22)] {
            // Nothing is queued: the poll is held until the post's event makes an answer.
            try poller.write(Array(request("GET", session).utf8))
            XCTAssertEqual(try exchange(poster, request("POST", session, body: #"42["add",\#(a),\#(b)]"#)).body, "ok")
            let answer = try poller.readResponse()
            XCTAssertEqual(String(decoding: answer.body, as: UTF8.self), #"42["sum",\#(a + b)]"#)
            XCTAssertTrue(answer.head.contains("Connection: keep-alive"), "\(answer.head)")
        }
    }

    func test_pipelinedPostAndPoll_inOneWrite_areAnsweredInOrder() throws {
        let io = try startKeepAliveServer()
        let client = try RawClient(port: io.port)
        defer { client.close() }
        let sid = try open(client)
        let session = Self.polling + "&sid=\(sid)"
        try client.write(Array((request("POST", session, body: "40") + request("GET", session)).utf8))
        XCTAssertEqual(String(decoding: try client.readResponse().body, as: UTF8.self), "ok")
        let connected = String(decoding: try client.readResponse().body, as: UTF8.self)
        XCTAssertTrue(connected.hasPrefix(#"40{"sid":""#), connected)
    }

    func test_preflightAndHandshake_shareOneConnection() throws {
        let io = try startKeepAliveServer { $0.origins = ["http://good.example"] }
        let client = try RawClient(port: io.port)
        defer { client.close() }
        let preflight = try exchange(client, request("OPTIONS", Self.polling, headers: [
            "Origin: http://good.example", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type",
        ]))
        XCTAssertEqual(preflight.status, 204)
        XCTAssertTrue(preflight.head.contains("Connection: keep-alive"), "\(preflight.head)")
        XCTAssertFalse(preflight.head.contains { $0.hasPrefix("Content-Length") }, "a 204 has no Content-Length (RFC 9110 8.6)")
        _ = try open(client, headers: ["Origin: http://good.example"])
    }

    func test_upgrade_onConnectionThatServedPolling() throws {
        let io = try startKeepAliveServer()
        let client = try RawClient(port: io.port)
        defer { client.close() }
        let sid = try open(client)
        XCTAssertEqual(try exchange(client, request("POST", Self.polling + "&sid=\(sid)", body: "40")).body, "ok")
        XCTAssertEqual(try client.upgrade(target: "/socket.io/?EIO=4&transport=websocket&sid=\(sid)"), 101)
        try client.sendTextFrames(["2probe"])
        XCTAssertEqual(client.readFrame().map { String(decoding: $0.payload, as: UTF8.self) }, "3probe")
        try client.sendTextFrames(["5", #"42["add",2,3]"#])
        var texts: [String] = []
        while texts.count < 5, let frame = client.readFrame() {
            texts.append(String(decoding: frame.payload, as: UTF8.self))
            if texts.last == #"42["sum",5]"# { break }
        }
        XCTAssertEqual(texts.last, #"42["sum",5]"#, "\(texts)")
    }

    func test_requestSayingClose_closesAfterItsAnswer() throws {
        let io = try startKeepAliveServer()
        let client = try RawClient(port: io.port)
        defer { client.close() }
        let answer = try exchange(client, request("GET", Self.polling, headers: ["Connection: close"]))
        XCTAssertEqual(answer.status, 200)
        XCTAssertTrue(answer.head.contains("Connection: close"), "\(answer.head)")
        XCTAssertTrue(client.awaitEOF())
    }

    func test_http10Handshake_closesAfterItsAnswer() throws {
        let io = try startKeepAliveServer()
        let client = try RawClient(port: io.port)
        defer { client.close() }
        let answer = try exchange(client, "GET \(Self.polling) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        XCTAssertEqual(answer.status, 200)
        XCTAssertTrue(answer.head.contains("Connection: close"), "\(answer.head)")
        XCTAssertTrue(client.awaitEOF())
    }

    func test_idleConnection_isClosed_afterKeepAliveTimeout() throws {
        let io = try startKeepAliveServer { $0.keepAliveTimeout = .milliseconds(300) }
        let client = try RawClient(port: io.port, timeout: .seconds(3))
        defer { client.close() }
        _ = try open(client)
        let start = ContinuousClock.now
        XCTAssertTrue(client.awaitEOF(), "an idle connection is closed")
        let elapsed = start.duration(to: .now)
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(250), "closed before the keep-alive timeout")
    }

    func test_malformedSecondRequest_gets400AndClose_whileTheSessionGoesOn() throws {
        let io = try startKeepAliveServer()
        let client = try RawClient(port: io.port)
        defer { client.close() }
        let other = try RawClient(port: io.port)
        defer { other.close() }
        let sid = try open(client)
        let session = Self.polling + "&sid=\(sid)"
        let refused = try exchange(client, "GET /socket.io/ HTTP/1.1\r\nHost: 127.0.0.1\r\nbad header line\r\n\r\n")
        XCTAssertEqual(refused.status, 400)
        XCTAssertTrue(refused.head.contains("Connection: close"), "\(refused.head)")
        XCTAssertTrue(client.awaitEOF())
        XCTAssertEqual(try exchange(other, request("POST", session, body: "40")).body, "ok")
        XCTAssertTrue(try exchange(other, request("GET", session)).body.hasPrefix("40"), "the session and other clients go on")
    }

    // MARK: python-socketio

    /// Runs sio_calls.py through a counting proxy.
    /// - Returns: the peer's result and the TCP connections the proxy accepted for it.
    private func runCalls(_ io: Server, client: String, transports: String, calls: Int) async throws -> (result: [String: Any], connections: Int) {
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let peer = try PythonPeer.start("sio_calls.py", ["http://127.0.0.1:\(proxy.port)", client, transports, String(calls)], for: self)
        let result = try await peer.result()
        XCTAssertEqual(result["answers"] as? Int, 1, "every call answered with the socket id")
        XCTAssertEqual(result["first"] as? String, result["sid"] as? String)
        return (result, proxy.accepted.load(ordering: .relaxed))
    }

    func test_pythonClientOnPolling_reusesConnections() async throws {
        let calls = 10
        for client in ["async", "sync"] {
            let kept = try await runCalls(try startKeepAliveServer(), client: client, transports: "polling", calls: calls)
            XCTAssertEqual(kept.result["transport"] as? String, "polling", client)
            // Every call is a POST and a poll at least: 2 × 10 requests, plus the handshake and the connect.
            XCTAssertLessThanOrEqual(kept.connections, 4, "\(client): polling opened \(kept.connections) connections for \(2 * calls + 3) requests or more")
            let closed = try await runCalls(try startKeepAliveServer { $0.keepAliveTimeout = nil }, client: client,
                                            transports: "polling", calls: calls)
            XCTAssertGreaterThanOrEqual(closed.connections, 2 * calls, "\(client): without keep-alive, a connection per request")
        }
    }

    func test_pythonClientOnDefaultTransports_upgrades_onAReusedConnection() async throws {
        // The async client (aiohttp) upgrades on its pooled polling connection; the sync one's
        // WebSocket (websocket-client) opens a connection of its own.
        for (client, most) in [("async", 1), ("sync", 2)] {
            let kept = try await runCalls(try startKeepAliveServer(), client: client, transports: "default", calls: 3)
            XCTAssertEqual(kept.result["transport"] as? String, "websocket", client)
            XCTAssertLessThanOrEqual(kept.connections, most, client)
            let closed = try await runCalls(try startKeepAliveServer { $0.keepAliveTimeout = nil }, client: client,
                                            transports: "default", calls: 3)
            XCTAssertEqual(closed.result["transport"] as? String, "websocket", client)
            XCTAssertEqual(closed.connections, 2, "\(client): the handshake's connection closes, the WebSocket opens another")
        }
    }
}
