import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// What a Socket.IO user writes first: `socket.on("disconnect")` reaches the lifecycle, names
/// that never reach a server socket are refused at registration, and handlers may throw
/// without their errors being lost.
final class SocketReservedEventsTests: XCTestCase {
    private struct Boom: Error {}

    func test_socketOn_disconnectAndDisconnecting_receiveTheReasonString_whenTheClientCloses() async throws {
        let io = try startServer()
        let log = Mailbox<String>()
        io.onConnection { socket in
            try socket.join("room")
            socket.on("disconnecting") { (reason: String) in log.put("disconnecting \(reason) in room \(socket.rooms.contains("room"))") }
            socket.on("disconnect") { (reason: String) in log.put("disconnect \(reason) in room \(socket.rooms.contains("room"))") }
            socket.on("disconnect") { log.put("disconnect, no data") }
            socket.on("disconnect") { (reason: RawJSON) in log.put("disconnect raw \(reason)") }
            socket.on("disconnect") { (reason: String?) in log.put("disconnect optional \(reason ?? "nil")") }
        }
        let client = try await connectClient(io)
        client.close(code: .normalClosure)
        let seen = [
            try await log.expect("disconnecting"),
            try await log.expect("disconnect String"),
            try await log.expect("disconnect without data"),
            try await log.expect("disconnect RawJSON"),
            try await log.expect("disconnect String?"),
        ]
        XCTAssertEqual(seen, [
            "disconnecting client namespace disconnect in room true",
            "disconnect client namespace disconnect in room false",
            "disconnect, no data",
            #"disconnect raw "client namespace disconnect""#,
            "disconnect optional client namespace disconnect",
        ])
        XCTAssertEqual(log.pending, [])
    }

    func test_socketOn_disconnect_receivesServerNamespaceDisconnect_whenTheServerDisconnects() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (_, socket) = try await connectPair(io, sockets)
        let reasons = Mailbox<String>()
        socket.on("disconnect") { (reason: String) in reasons.put(reason) }
        socket.disconnect()
        let reason = try await reasons.expect("the reason")
        XCTAssertEqual(reason, DisconnectReason.serverNamespaceDisconnect.rawValue)
    }

    func test_socketOff_disconnect_removesTheRoutedHandler_andOnlyIt() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        let log = Mailbox<String>()
        let removed = socket.on("disconnect") { (_: String) in log.put("removed handler ran") }
        socket.on("disconnect") { (_: String) in log.put("kept") }
        let typed = socket.onDisconnect { _ in log.put("removed onDisconnect ran") }
        socket.onDisconnecting { _ in log.put("disconnecting") }
        socket.off("disconnect", removed)
        socket.off("disconnect", typed)
        client.close(code: .normalClosure)
        let first = try await log.expect("disconnecting")
        let second = try await log.expect("the kept handler")
        XCTAssertEqual([first, second], ["disconnecting", "kept"])
        XCTAssertEqual(log.pending, [])
    }

    func test_socketRoute_refusesNamesThatNeverReachAServerSocket_namingTheCallToWrite() {
        let string = Socket.HandlerSignature.data(String.self, ack: false)
        let expectations: [(String, Socket.HandlerSignature, String)] = [
            ("connect", .noData(ack: false), "io.onConnection { socket in ... }"),
            ("connect_error", string, "io.use { handshake in ... }"),
            ("error", string, "errors a handler throws are logged"),
            ("heartbeat", .noData(ack: true), "answered by the server itself"),
            ("disconnect", .data(Int.self, ack: false), #"socket.on("disconnect") { (reason: String) in ... } or socket.onDisconnect"#),
            ("disconnecting", .data([String].self, ack: false), #"socket.on("disconnecting") { (reason: String) in ... } or socket.onDisconnecting"#),
            ("disconnect", .data(String.self, ack: true), "nothing to acknowledge"),
            ("disconnect", .noData(ack: true), "nothing to acknowledge"),
        ]
        for (event, signature, fix) in expectations {
            guard case .refused(let message) = Socket.route(event, signature) else {
                XCTFail("on(\"\(event)\") with \(signature.dataType ?? "no data") was accepted")
                continue
            }
            XCTAssertTrue(message.contains(fix), "\(event): \(message)")
            XCTAssertTrue(message.hasPrefix("socket.on(\"\(event)\")"), message)
        }
        XCTAssertEqual(Socket.route("disconnect", string), .disconnect)
        XCTAssertEqual(Socket.route("disconnecting", .noData(ack: false)), .disconnecting)
        XCTAssertEqual(Socket.route("disconnect", .data(RawJSON.self, ack: false)), .disconnect)
        XCTAssertEqual(Socket.route("chat", .data(Int.self, ack: true)), .event)
        XCTAssertEqual(Socket.route("Disconnect", .data(Int.self, ack: true)), .event, "names are case-sensitive, as on the wire")
    }

    func test_socketOn_throwingHandler_failsTheRequestedAck_andTheSocketIsStillServed() async throws {
        let io = try startServer()
        installEcho(on: io.main)
        io.onConnection { socket in
            socket.on("boom") { (_: RawJSON, _: Ack) in throw Boom() }
            socket.on("nan") { (_: Ack) in try socket.emit("number", Double.nan) }
            socket.on("quiet") { (_: RawJSON) in throw Boom() }
        }
        let client = try await connectClient(io)
        client.emit("boom", "1", id: 1)
        let boom = try await client.nextAck(id: 1)
        XCTAssertEqual(boom, .ackError(id: 1, message: "the server failed to handle 'boom'"))
        // An encoding failure of `emit` inside a handler: thrown, reported, not swallowed.
        client.emit("nan", nil, id: 2)
        let nan = try await client.nextAck(id: 2)
        XCTAssertEqual(nan, .ackError(id: 2, message: "the server failed to handle 'nan'"))
        // Without an ack the error stays on the server: the client gets nothing for it.
        client.emit("quiet", "1")
        try await client.assertServed(id: 3)
    }

    func test_socketEmit_throwsEncodingFailed_forDataThatDoesNotEncode_andReservedEvent_forReservedNames() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        XCTAssertThrowsError(try socket.emit("number", Double.infinity)) { error in
            guard case ParleyError.encodingFailed = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try socket.emit("disconnect", "x")) { error in
            XCTAssertEqual(error as? ParleyError, .reservedEvent("disconnect"))
        }
        // Delivery never throws: an emit to a socket that has gone is dropped.
        try socket.emit("fence", 1)
        _ = try await client.nextStrict(event: "fence")
        socket.disconnect()
        XCTAssertNoThrow(try socket.emit("after", 1))
    }

    func test_onConnection_throwingHandler_isReported_andLaterHandlersStillRun() async throws {
        let io = try startServer()
        io.onConnection { socket in try socket.emit("welcome", Double.nan) }
        installEcho(on: io.main)
        let client = try await connectClient(io)
        try await client.assertServed(id: 1)
    }
}
