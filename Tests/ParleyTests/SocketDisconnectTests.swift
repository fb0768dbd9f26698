import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Disconnecting (Protocol.md 5.3): what the client receives and the reasons server handlers see.
final class SocketDisconnectTests: XCTestCase {
    /// Records `onDisconnecting` (reason and rooms at that time) and `onDisconnect` (reason and rooms after).
    private func watch(_ socket: Socket) -> Mailbox<String> {
        let events = Mailbox<String>()
        socket.onDisconnecting { reason in
            events.put("disconnecting \(reason.rawValue) rooms \(socket.rooms.subtracting([socket.id]).sorted()) own \(socket.rooms.contains(socket.id))")
        }
        socket.onDisconnect { reason in
            events.put("disconnect \(reason.rawValue) rooms \(socket.rooms.sorted()) connected \(socket.connected)")
        }
        return events
    }

    private func expectReason(_ events: Mailbox<String>, _ reason: DisconnectReason, rooms: [String] = [],
                              file: StaticString = #filePath, line: UInt = #line) async throws {
        let disconnecting = try await events.expect("onDisconnecting", file: file, line: line)
        let disconnect = try await events.expect("onDisconnect", file: file, line: line)
        XCTAssertEqual(disconnecting, "disconnecting \(reason.rawValue) rooms \(rooms) own true", file: file, line: line)
        XCTAssertEqual(disconnect, "disconnect \(reason.rawValue) rooms [] connected false", file: file, line: line)
    }

    func test_disconnect_sendsDisconnectEventThenClose1000_andReasonIsServerNamespaceDisconnect() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        let other = try await connectClient(io)
        try socket.join("r", "s")
        let events = watch(socket)
        socket.disconnect()
        socket.disconnect()  // idempotent
        let disconnect = try await client.nextStrict(event: "disconnect")
        XCTAssertEqual(disconnect.json, #"{"reason":"io server disconnect"}"#)
        let close = try await client.closed()
        XCTAssertEqual(close, CloseEvent(code: .normalClosure, reason: "io server disconnect"))
        XCTAssertEqual(client.pending, [])
        try await expectReason(events, .serverNamespaceDisconnect, rooms: ["r", "s"])
        XCTAssertEqual(io.fetchSockets().map(\.id), [other.id])
        XCTAssertEqual(io.to("r").fetchSockets().count, 0)
    }

    func test_disconnect_marksSocketDisconnected_andStopsHandlingLaterEvents() async throws {
        // As Socket.IO's socket.disconnect(): the socket is disconnected at once; events the
        // client sent before it learnt of it are not handled.
        let io = try startServer()
        let log = Mailbox<String>()
        io.onConnection { socket in
            socket.on("bye") {
                socket.disconnect()
                log.put("connected after disconnect(): \(socket.connected)")
            }
            socket.on("late") { log.put("late handler ran") }
            socket.onDisconnect { log.put("disconnect \($0.rawValue)") }
        }
        // A raw client writes both events at once: "late" surely reaches the server before
        // anything the server answers to "bye" could reach the client.
        let raw = try RawClient(port: io.port)
        XCTAssertEqual(try raw.upgrade(target: "/parley"), 101)
        XCTAssertNotNil(raw.readFrame(), "no connect frame")
        try raw.sendTextFrames([#"{"event":"bye"}"#, #"{"event":"late"}"#])
        // As in Socket.IO, onDisconnect runs inside disconnect(), before it returns.
        let first = try await log.expect("onDisconnect")
        XCTAssertEqual(first, "disconnect server namespace disconnect")
        let second = try await log.expect("the bye handler")
        XCTAssertEqual(second, "connected after disconnect(): false")
        var frames: [(opcode: UInt8, payload: [UInt8])] = []
        while let frame = raw.readFrame() {
            frames.append(frame)
            if frame.opcode == 0x8 { break }
        }
        XCTAssertEqual(frames.map(\.opcode), [0x1, 0x8], "the disconnect event, then the close frame")
        try raw.sendClose()
        XCTAssertTrue(raw.awaitEOF(), "the server closes TCP first (RFC 6455 7.1.1)")
        raw.close()
        XCTAssertEqual(log.pending, [], "no handler may run after disconnect(), and onDisconnect runs once")
    }

    func test_disconnect_fromHandler_afterEmit_deliversEmitFirst() async throws {
        let io = try startServer()
        io.onConnection { socket in
            socket.on("bye") {
                try? socket.emit("farewell", "see you")
                socket.disconnect()
            }
        }
        let client = try await connectClient(io)
        client.emit("bye")
        try await client.expectEvents(["farewell", "disconnect"])
        let close = try await client.closed()
        XCTAssertEqual(close.code, .normalClosure)
    }

    func test_clientClose1000_reportsClientNamespaceDisconnect() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        try socket.join("r")
        let events = watch(socket)
        client.close(code: .normalClosure, reason: "bye")
        try await expectReason(events, .clientNamespaceDisconnect, rooms: ["r"])
        let close = try await client.closed()
        XCTAssertEqual(close.code, .normalClosure)
        XCTAssertEqual(io.main.clientCount, 0)
    }

    func test_clientDroppingTCP_reportsTransportClose() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        let events = watch(socket)
        client.socket.terminate()
        try await expectReason(events, .transportClose)
    }

    func test_clientProtocolError_reportsTransportError() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        let events = watch(socket)
        client.emit("echo", "\"" + String(repeating: "y", count: 2_000_000) + "\"")  // over 1 MB: 1009
        try await expectReason(events, .transportError)
        let close = try await client.closed()
        XCTAssertEqual(close.code, .messageTooBig)
    }

    func test_close_closesClientsWith1001_andReasonIsServerShuttingDown() async throws {
        let io = try startServer()
        let admin = io.of("/admin")
        let sockets = SocketRegistry(io.main)
        let adminSockets = SocketRegistry(admin)
        let (client, socket) = try await connectPair(io, sockets)
        let (adminClient, adminSocket) = try await connectPair(io, adminSockets, query: "nsp=/admin")
        let events = watch(socket)
        let adminEvents = watch(adminSocket)
        let start = ContinuousClock.now
        await io.close(gracePeriod: .seconds(5))
        XCTAssertLessThan(secondsSince(start), 4, "close returns once the clients are gone")
        for client in [client, adminClient] {
            let close = try await client.closed()
            XCTAssertEqual(close, CloseEvent(code: .goingAway, reason: "server shutting down"))
        }
        try await expectReason(events, .serverShuttingDown)
        try await expectReason(adminEvents, .serverShuttingDown)
    }

    func test_close_makesRunReturn_afterClosingClients() async throws {
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
        configuration.loopCount = 1
        let io = Server(configuration)
        let returned = Mailbox<String>()
        let runner = Task {
            do { try await io.run() } catch { returned.put("threw \(error)") }
            returned.put("returned")
        }
        // run() starts the server: wait until it listens by connecting.
        let client = try await connectWhenListening(io)
        await io.close(gracePeriod: .seconds(2))
        let result = try await returned.expect("run() to return")
        XCTAssertEqual(result, "returned")
        let close = try await client.closed()
        XCTAssertEqual(close.code, .goingAway)
        _ = await runner.value
    }

    /// Connects to a server that `run()` is starting, retrying until it has a port.
    private func connectWhenListening(_ io: Server) async throws -> EnvelopeClient {
        let deadline = ContinuousClock.now + eventTimeout
        while io.port == 0 {
            guard ContinuousClock.now < deadline else { throw RawSocketError(description: "run() never listened") }
            await Task.yield()
        }
        let client = try await EnvelopeClient.connect(io.url())
        try await client.awaitConnect()
        return client
    }
}
