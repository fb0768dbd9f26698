import Foundation
import Parley
import ParleyProtocol
import ParleyTestSupport
import ParleyWebSocket
import TestSupport
import XCTest

/// Connection state recovery for Socket.IO clients, on the wire as Socket.IO 4.6 clients speak
/// it (``SocketIORecoveringClient``): `pid` in the `CONNECT` answer, the offset as every
/// event's last argument, `pid` and `offset` in the `auth` of the next `CONNECT`. The
/// connection is cut for real (a proxy doing `shutdown(2)`), not closed.
final class SocketIORecoveryTests: XCTestCase {
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
        let client = try await SocketIORecoveringClient(port: proxy.port)
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
        let again = try await SocketIORecoveringClient(port: proxy.port)
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

    func testRecovery_socketIOClient_missedSeveralArgumentEvents_keepTheirArgumentsAndOffsets() async throws {
        let (io, sockets) = try recoveryServer()
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let client = try await SocketIORecoveringClient(port: proxy.port)
        let connect = try await client.join()
        let sid = try XCTUnwrap(connect["sid"] as? String)
        let pid = try XCTUnwrap(connect["pid"] as? String)
        let offset = try XCTUnwrap(connect["offset"] as? String)
        let first = try await sockets.socket(id: sid)
        proxy.cut()
        try await sockets.expectDisconnect(first)
        try io.emit("pair", EventArguments([try RawJSON(json: "3"), try RawJSON(json: #""x""#)]))
        try first.emit("trio", EventArguments([try RawJSON(json: "1"), try RawJSON(json: "2"), try RawJSON(json: "3")]))
        let again = try await SocketIORecoveringClient(port: proxy.port)
        let reconnect = try await again.join(auth: SocketIORecoveringClient.recoveryAuth(pid: pid, offset: offset))
        XCTAssertEqual(reconnect["sid"] as? String, sid)
        let pair = try await again.nextEvent("pair", count: 4)   // the name, both arguments, the offset
        XCTAssertEqual((pair[1] as? NSNumber)?.intValue, 3)
        XCTAssertEqual(pair[2] as? String, "x")
        XCTAssertNotNil(pair[3] as? String)
        let trio = try await again.nextEvent("trio", count: 5)   // a direct emit: the name, three arguments, the offset
        XCTAssertEqual(trio.dropFirst().dropLast().compactMap { ($0 as? NSNumber)?.intValue }, [1, 2, 3])
    }

    func testRecovery_socketIOClientWithUnknownPid_getsFreshSessionWithNewPid() async throws {
        let (io, sockets) = try recoveryServer()
        let client = try await SocketIORecoveringClient(port: io.port)
        let connect = try await client.join(auth: #"{"pid":"AAAAAAAAAAAAAAAAAAAAAA","offset":"0"}"#)
        let sid = try XCTUnwrap(connect["sid"] as? String)
        XCTAssertNotEqual(connect["pid"] as? String, "AAAAAAAAAAAAAAAAAAAAAA")
        XCTAssertNotNil(connect["offset"] as? String)
        let socket = try await sockets.socket(id: sid)
        XCTAssertFalse(socket.recovered)
        XCTAssertEqual(socket.data["user"] as? String, "ada", "middleware ran for the fresh session")
    }
}
