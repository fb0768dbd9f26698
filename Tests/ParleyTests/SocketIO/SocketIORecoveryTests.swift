import Foundation
import Parley
import ParleyTestSupport
import ParleyWebSocket
import TestSupport
import XCTest

/// Connection state recovery for Socket.IO clients, on the wire as Socket.IO 4.6 clients speak
/// it (python-socketio's client does not implement it): `pid` in the `CONNECT` answer, the
/// offset as every event's last argument, `pid` and `offset` in the `auth` of the next
/// `CONNECT`. The connection is cut for real (a proxy doing `shutdown(2)`), not closed.
final class SocketIORecoveryTests: XCTestCase {
    /// A raw Engine.IO WebSocket client recovering as a Socket.IO 4.6 client does.
    private final class RecoveringClient: Sendable {
        let socket: WebSocket
        let texts = Mailbox<String>()

        init(port: Int) async throws {
            let texts = texts
            socket = try await WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/socket.io/?EIO=4&transport=websocket") { socket in
                socket.onMessage { socket, message in
                    guard case .text(let text) = message else { return }
                    if text == "2" { socket.send(text: "3") } else { texts.put(text) }
                }
                socket.onClose { _, _, _ in texts.finish() }
            }
        }

        func next(_ prefix: String, file: StaticString = #filePath, line: UInt = #line) async throws -> String {
            try await texts.expect("a packet starting with \(prefix)", file: file, line: line) { $0.hasPrefix(prefix) }
        }

        /// Opens the session and joins `/` with `auth`; returns the `CONNECT` answer's object.
        func join(auth: String = "") async throws -> [String: Any] {
            _ = try await next("0{")
            socket.send(text: "40" + auth)
            let answer = try await next("40")
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(answer.dropFirst(2).utf8)) as? [String: Any])
        }

        /// The next packet, which must be the EVENT `n`: its number and its offset (the last argument).
        func nextNumbered(file: StaticString = #filePath, line: UInt = #line) async throws -> (number: Int, offset: String) {
            let text = try await texts.expect("an event", file: file, line: line)
            XCTAssertTrue(text.hasPrefix("42["), text, file: file, line: line)
            let array = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.dropFirst(2).utf8)) as? [Any], file: file, line: line)
            XCTAssertEqual(array.count, 3, "name, the number, the offset: \(text)", file: file, line: line)
            XCTAssertEqual(array.first as? String, "n", file: file, line: line)
            return (try XCTUnwrap((array[1] as? NSNumber)?.intValue, file: file, line: line),
                    try XCTUnwrap(array.last as? String, "the offset is a string", file: file, line: line))
        }
    }

    private func recoveryServer() throws -> (Server, SocketRegistry) {
        let io = try startServer { $0.connectionStateRecovery = Server.ConnectionStateRecovery() }
        io.use { handshake in
            if handshake.data["user"] == nil { handshake.data["user"] = "ada" }
        }
        let registry = SocketRegistry(io.main)
        io.onConnection { socket in
            socket.on("join") { (room: String, ack: Ack) in
                try socket.join(room)
                ack()
            }
            socket.onDisconnect { _ in registry.disconnects.put(socket.id) }
        }
        return (io, registry)
    }

    func testRecovery_socketIOClientCutOff_getsSameSidRoomsDataAndEveryMissedEventOnceInOrder() async throws {
        let (io, sockets) = try recoveryServer()
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let client = try await RecoveringClient(port: proxy.port)
        let connect = try await client.join()
        let sid = try XCTUnwrap(connect["sid"] as? String)
        let pid = try XCTUnwrap(connect["pid"] as? String, "\(connect)")
        XCTAssertNotEqual(pid, sid)
        let first = try await sockets.socket(id: sid)
        XCTAssertFalse(first.recovered)
        first.data["score"] = 7
        client.socket.send(text: #"421["join","news"]"#)
        _ = try await client.next("431[")
        var offset = try XCTUnwrap(connect["offset"] as? String, "a new session starts at the namespace's last offset")
        for number in 1...3 {
            try io.to("news").emit("n", number)
            let event = try await client.nextNumbered()
            XCTAssertEqual(event.number, number)
            offset = event.offset
        }
        XCTAssertEqual(proxy.cut(), 1)
        try await sockets.expectDisconnect(first)
        // Missed: a room broadcast, one to everyone, one to another room (not for this client),
        // a direct emit through the old socket, and a volatile one (never kept).
        try io.to("news").emit("n", 4)
        try io.emit("n", 5)
        try io.to("elsewhere").emit("n", 99)
        try first.emit("n", 6)
        try io.volatile.emit("n", 98)
        let again = try await RecoveringClient(port: proxy.port)
        let reconnect = try await again.join(auth: #"{"token":"t","pid":"\#(pid)","offset":"\#(offset)"}"#)
        XCTAssertEqual(reconnect["sid"] as? String, sid, "the same sid")
        XCTAssertEqual(reconnect["pid"] as? String, pid)
        var numbers: [Int] = []
        for _ in 4...6 { numbers.append(try await again.nextNumbered().number) }
        try io.to("news").emit("n", 7)
        numbers.append(try await again.nextNumbered().number)
        XCTAssertEqual(numbers, [4, 5, 6, 7], "every missed event once, in order, then live ones")
        let second = try await sockets.socket(id: sid)
        XCTAssertTrue(second.recovered)
        XCTAssertEqual(second.rooms, [sid, "news"])
        XCTAssertEqual(second.data["score"] as? Int, 7)
        XCTAssertEqual(second.handshake.auth?.string(forKey: "token"), "t", "auth is seen whole")
    }

    func testRecovery_socketIOClientWithUnknownPid_getsFreshSessionWithNewPid() async throws {
        let (io, sockets) = try recoveryServer()
        let client = try await RecoveringClient(port: io.port)
        let connect = try await client.join(auth: #"{"pid":"AAAAAAAAAAAAAAAAAAAAAA","offset":"0"}"#)
        let sid = try XCTUnwrap(connect["sid"] as? String)
        XCTAssertNotEqual(connect["pid"] as? String, "AAAAAAAAAAAAAAAAAAAAAA")
        XCTAssertNotNil(connect["offset"] as? String)
        let socket = try await sockets.socket(id: sid)
        XCTAssertFalse(socket.recovered)
        XCTAssertEqual(socket.data["user"] as? String, "ada", "middleware ran for the fresh session")
    }
}
