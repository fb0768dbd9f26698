import Foundation
import ParleyProtocol
import TestSupport
import XCTest
@testable import Parley

/// The Engine.IO endpoint's HTTP answers, over raw sockets (Protocol.md section 12.1).
final class SocketIOEndpointTests: XCTestCase {
    private func http(_ io: Server, _ method: String, _ target: String, headers: [String] = [], body: String = "")
        throws -> (status: Int, head: [String], body: String) {
        let client = try RawClient(port: io.port)
        defer { client.close() }
        var request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for header in headers { request += header + "\r\n" }
        if method == "POST" { request += "Content-Length: \(body.utf8.count)\r\n" }
        request += "\r\n" + body
        let (head, bytes) = try client.http(request)
        let status = Int(head.first?.split(separator: " ")[1] ?? "") ?? -1
        return (status, head, String(decoding: bytes, as: UTF8.self))
    }

    /// A polling handshake; returns the session id.
    private func open(_ io: Server) throws -> String {
        let answer = try http(io, "GET", "/socket.io/?EIO=4&transport=polling")
        XCTAssertEqual(answer.status, 200)
        XCTAssertTrue(answer.body.hasPrefix(#"0{"sid":""#), answer.body)
        XCTAssertTrue(answer.body.contains(#""upgrades":["websocket"],"pingInterval":1000,"pingTimeout":2000,"maxPayload":1000000}"#), answer.body)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(answer.body.dropFirst().utf8)) as? [String: Any])
        return try XCTUnwrap(json["sid"] as? String)
    }

    func test_endpoint_refusesUnknownSid_with400Code1() throws {
        let io = try startServer()
        let answer = try http(io, "GET", "/socket.io/?EIO=4&transport=polling&sid=nope")
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.body, #"{"code":1,"message":"Session ID unknown"}"#)
    }

    func test_endpoint_refusesOtherProtocolVersion_with400Code5() throws {
        let io = try startServer()
        let answer = try http(io, "GET", "/socket.io/?EIO=3&transport=polling")
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.body, #"{"code":5,"message":"Unsupported protocol version"}"#)
    }

    func test_endpoint_refusesUnknownTransport_with400Code0() throws {
        let io = try startServer()
        XCTAssertEqual(try http(io, "GET", "/socket.io/?EIO=4&transport=flash").body, #"{"code":0,"message":"Transport unknown"}"#)
    }

    func test_endpoint_refusesPostHandshake_with400Code2() throws {
        let io = try startServer()
        XCTAssertEqual(try http(io, "POST", "/socket.io/?EIO=4&transport=polling", body: "40").body,
                       #"{"code":2,"message":"Bad handshake method"}"#)
    }

    func test_endpoint_refusesOriginOutsideAllowList_with403Code4() throws {
        let io = try startServer { $0.origins = ["http://good.example"] }
        let answer = try http(io, "GET", "/socket.io/?EIO=4&transport=polling", headers: ["Origin: http://evil.example"])
        XCTAssertEqual(answer.status, 403)
        XCTAssertEqual(answer.body, #"{"code":4,"message":"Forbidden"}"#)
    }

    func test_endpoint_answersCORSPreflight_andEchoesAllowedOrigin() throws {
        let io = try startServer { $0.origins = ["http://good.example"] }
        let preflight = try http(io, "OPTIONS", "/socket.io/?EIO=4&transport=polling",
                                 headers: ["Origin: http://good.example", "Access-Control-Request-Headers: content-type"])
        XCTAssertEqual(preflight.status, 204)
        XCTAssertTrue(preflight.head.contains("Access-Control-Allow-Origin: http://good.example"), "\(preflight.head)")
        XCTAssertTrue(preflight.head.contains("Access-Control-Allow-Credentials: true"), "\(preflight.head)")
        XCTAssertTrue(preflight.head.contains("Access-Control-Allow-Headers: content-type"), "\(preflight.head)")
        let handshake = try http(io, "GET", "/socket.io/?EIO=4&transport=polling", headers: ["Origin: http://good.example"])
        XCTAssertEqual(handshake.status, 200)
        XCTAssertTrue(handshake.head.contains("Access-Control-Allow-Origin: http://good.example"), "\(handshake.head)")
    }

    func test_endpoint_pollingSession_connectsNamespace_andAnswersEvents() throws {
        let io = try startServer()
        io.onConnection { socket in socket.on("add") { (a: Int, b: Int) in try? socket.emit("sum", a + b) } }
        let sid = try open(io)
        XCTAssertEqual(try http(io, "POST", "/socket.io/?EIO=4&transport=polling&sid=\(sid)", body: "40").body, "ok")
        let connected = try http(io, "GET", "/socket.io/?EIO=4&transport=polling&sid=\(sid)").body
        XCTAssertTrue(connected.hasPrefix(#"40{"sid":""#), connected)
        XCTAssertEqual(try http(io, "POST", "/socket.io/?EIO=4&transport=polling&sid=\(sid)", body: "42[\"add\",2,3]").body, "ok")
        XCTAssertEqual(try http(io, "GET", "/socket.io/?EIO=4&transport=polling&sid=\(sid)").body, #"42["sum",5]"#)
    }

    func test_endpoint_malformedPost_gets400_andClosesSession() throws {
        let io = try startServer()
        let sid = try open(io)
        let answer = try http(io, "POST", "/socket.io/?EIO=4&transport=polling&sid=\(sid)", body: "9oops")
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.body, #"{"code":3,"message":"Bad request"}"#)
        XCTAssertEqual(try http(io, "GET", "/socket.io/?EIO=4&transport=polling&sid=\(sid)").body, "1")
        XCTAssertEqual(try http(io, "GET", "/socket.io/?EIO=4&transport=polling&sid=\(sid)").status, 400)
    }

    func test_endpoint_secondConcurrentPoll_isRefused_andClosesSession() throws {
        let io = try startServer()
        let sid = try open(io)
        let poll = Array("GET /socket.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        // Nothing is queued, so the first poll the server reads is held; the other overlaps it.
        let first = try RawClient(port: io.port)
        let second = try RawClient(port: io.port)
        try first.write(poll)
        try second.write(poll)
        let answers = try [first.http(""), second.http("")].map { String(decoding: $0.body, as: UTF8.self) }
        XCTAssertEqual(answers.sorted(), ["1", #"{"code":3,"message":"Bad request"}"#])
        XCTAssertEqual(try http(io, "GET", "/socket.io/?EIO=4&transport=polling&sid=\(sid)").status, 400)
    }

    func test_endpoint_disabled_whenPathIsNil() throws {
        let io = try startServer { $0.socketIOPath = nil }
        XCTAssertEqual(try http(io, "GET", "/socket.io/?EIO=4&transport=polling").status, 404)
    }
}
