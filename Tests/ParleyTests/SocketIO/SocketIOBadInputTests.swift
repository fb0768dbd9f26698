import Foundation
import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Bad input on the Engine.IO endpoint: an oversized polling body, binary attachments that never
/// complete, namespaces never joined. Each gets the protocol's answer, and other clients go on.
final class SocketIOBadInputTests: XCTestCase {
    /// A raw Engine.IO WebSocket client: its text packets in a mailbox, pings answered.
    private final class EngineClient: Sendable {
        let socket: WebSocket
        let texts = Mailbox<String>()
        let closed = Mailbox<CloseCode>()

        init(port: Int) async throws {
            let (texts, closed) = (texts, closed)
            socket = try await WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/socket.io/?EIO=4&transport=websocket") { socket in
                socket.onMessage { socket, message in
                    guard case .text(let text) = message else { return }
                    if text == "2" { socket.send(text: "3") } else { texts.put(text) }
                }
                socket.onClose { _, code, _ in closed.put(code) }
            }
        }

        /// The next text packet that starts with `prefix`.
        func next(_ prefix: String, file: StaticString = #filePath, line: UInt = #line) async throws -> String {
            try await texts.expect("a packet starting with \(prefix)", file: file, line: line) { $0.hasPrefix(prefix) }
        }

        /// Opens the session and joins `/`.
        func join() async throws {
            _ = try await next("0{")
            socket.send(text: "40")
            _ = try await next("40{")
        }

        /// Whether the connection still answers: `whoami` with an ack id comes back.
        func answers(id: Int) async throws -> Bool {
            socket.send(text: #"42\#(id)["whoami"]"#)
            return (try? await next("43\(id)[")) != nil
        }
    }

    private func startSocketIOServer(_ configure: (inout Server.Configuration) -> Void = { _ in }) throws -> Server {
        let io = try startServer(configure)
        io.onConnection { socket in socket.on("whoami") { (ack: Ack) in ack(socket.id) } }
        return io
    }

    private func http(_ io: Server, _ method: String, _ target: String, body: String = "") throws -> (status: Int, body: String) {
        let client = try RawClient(port: io.port)
        defer { client.close() }
        var request = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if method == "POST" { request += "Content-Length: \(body.utf8.count)\r\n" }
        request += "\r\n" + body
        let (head, bytes) = try client.http(request)
        return (Int(head.first?.split(separator: " ")[1] ?? "") ?? -1, String(decoding: bytes, as: UTF8.self))
    }

    func test_endpoint_oversizedPollingPost_gets413_andTheSessionGoesOn() async throws {
        let io = try startSocketIOServer { $0.maxPayload = 1_000 }
        let open = try http(io, "GET", "/socket.io/?EIO=4&transport=polling")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(open.body.dropFirst().utf8)) as? [String: Any])
        let sid = try XCTUnwrap(json["sid"] as? String)
        XCTAssertEqual(json["maxPayload"] as? Int, 1_000)
        let target = "/socket.io/?EIO=4&transport=polling&sid=\(sid)"

        let oversized = try http(io, "POST", target, body: "42" + #"["x",""# + String(repeating: "a", count: 1_000) + #""]"#)
        XCTAssertEqual(oversized.status, 413)
        // The body was never read: the session is as it was, and works.
        XCTAssertEqual(try http(io, "POST", target, body: "40").body, "ok")
        XCTAssertTrue(try http(io, "GET", target).body.hasPrefix(#"40{"sid":""#))
        XCTAssertEqual(try http(io, "POST", target, body: #"421["whoami"]"#).body, "ok")
        XCTAssertTrue(try http(io, "GET", target).body.hasPrefix(#"431[""#))
    }

    func test_endpoint_binaryPacket_followedByTextInsteadOfItsAttachment_closesOnlyThatConnection() async throws {
        let io = try startSocketIOServer()
        let other = try await EngineClient(port: io.port)
        try await other.join()
        let client = try await EngineClient(port: io.port)
        try await client.join()
        // Two attachments announced, one sent, then a text packet: the packet can never complete.
        client.socket.send(text: #"452-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        client.socket.send(binary: [1, 2, 3])
        client.socket.send(text: #"42["next"]"#)
        _ = try await client.closed.expect("the connection's close")
        let answered = try await other.answers(id: 7)
        XCTAssertTrue(answered)
    }

    func test_endpoint_binaryAttachments_overMaxPayload_closeTheConnection() async throws {
        let io = try startSocketIOServer { $0.maxPayload = 1_000 }
        let other = try await EngineClient(port: io.port)
        try await other.join()
        let client = try await EngineClient(port: io.port)
        try await client.join()
        client.socket.send(text: #"452-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        client.socket.send(binary: [UInt8](repeating: 1, count: 600))
        client.socket.send(binary: [UInt8](repeating: 2, count: 600))
        _ = try await client.closed.expect("the connection's close")
        let answered = try await other.answers(id: 8)
        XCTAssertTrue(answered)
    }

    func test_endpoint_binaryPacket_announcingTooManyAttachments_closesTheConnection() async throws {
        let io = try startSocketIOServer()
        let client = try await EngineClient(port: io.port)
        try await client.join()
        client.socket.send(text: #"4511-["up"]"#)
        _ = try await client.closed.expect("the connection's close")
    }

    func test_endpoint_connectToUnknownNamespace_getsConnectError_andTheConnectionGoesOn() async throws {
        let io = try startSocketIOServer()
        let client = try await EngineClient(port: io.port)
        _ = try await client.next("0{")
        client.socket.send(text: "40/never,")
        let refusal = try await client.next("44/never,")
        XCTAssertEqual(refusal, #"44/never,{"message":"Invalid namespace"}"#)
        client.socket.send(text: "40")
        _ = try await client.next("40{")
        let answered = try await client.answers(id: 1)
        XCTAssertTrue(answered)
    }

    func test_endpoint_eventForNamespaceNeverJoined_isIgnored_andTheConnectionGoesOn() async throws {
        let io = try startSocketIOServer()
        let asked = Mailbox<String>()
        io.of("/other").onConnection { socket in socket.on("whoami") { (ack: Ack) in asked.put(socket.id); ack(socket.id) } }
        let client = try await EngineClient(port: io.port)
        try await client.join()
        client.socket.send(text: #"42/other,5["whoami"]"#)
        let answered = try await client.answers(id: 6)
        XCTAssertTrue(answered)
        XCTAssertTrue(asked.pending.isEmpty)
        XCTAssertNil(client.texts.pending.first { $0.hasPrefix("43/other,") })
    }
}
