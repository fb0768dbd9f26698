import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Namespaces (Protocol.md 5.1, 7): chosen with `nsp`, isolated from each other.
final class NamespaceTests: XCTestCase {
    func test_of_isReached_withNspQueryParameter() async throws {
        let io = try startServer()
        let admin = io.of("/admin")
        let adminSockets = SocketRegistry(admin)
        let mainSockets = SocketRegistry(io.main)
        let client = try await connectClient(io, query: "nsp=/admin")
        let socket = try await adminSockets.socket(id: client.id)
        XCTAssertEqual(socket.namespace.name, "/admin")
        XCTAssertTrue(socket.namespace === admin)
        XCTAssertTrue(io.of("/admin") === admin, "of returns the same namespace")
        XCTAssertTrue(io.of("/") === io.main)
        XCTAssertEqual(admin.clientCount, 1)
        XCTAssertEqual(io.main.clientCount, 0)
        // The main namespace's handlers never saw it: the next main socket is a main client.
        let mainClient = try await connectClient(io)
        let mainSocket = try await mainSockets.next()
        XCTAssertEqual(mainSocket.id, mainClient.id)
        XCTAssertEqual(io.clientCount, 2)
    }

    func test_unknownNamespace_getsConnectErrorInvalidNamespace_thenClose1008() async throws {
        let io = try startServer()
        let reached = Mailbox<String>()
        io.onConnection { reached.put($0.id) }
        io.use { _ in reached.put("middleware") }
        let client = try await openClient(io, query: "nsp=/nowhere")
        let refusal = try await client.nextStrict(event: "connect_error")
        XCTAssertEqual(refusal.json, #"{"message":"Invalid namespace"}"#)
        let close = try await client.closed()
        XCTAssertEqual(close, CloseEvent(code: .policyViolation, reason: "Invalid namespace"))
        XCTAssertEqual(reached.pending, [])
        XCTAssertEqual(io.main.clientCount, 0)
    }

    func test_emit_inOneNamespace_doesNotReachAnother() async throws {
        let io = try startServer()
        let admin = io.of("/admin")
        let mainClient = try await connectClient(io)
        let adminClient = try await connectClient(io, query: "nsp=/admin")
        try io.emit("main news", 1)
        try admin.emit("admin news", 2)
        try io.emit("fence")
        try admin.emit("fence")
        try await mainClient.expectEvents(["main news", "fence"])
        try await adminClient.expectEvents(["admin news", "fence"])
    }

    func test_rooms_withSameName_areSeparatePerNamespace() async throws {
        let io = try startServer()
        let admin = io.of("/admin")
        let mainSockets = SocketRegistry(io.main)
        let adminSockets = SocketRegistry(admin)
        let (mainClient, mainSocket) = try await connectPair(io, mainSockets)
        let (adminClient, adminSocket) = try await connectPair(io, adminSockets, query: "nsp=/admin")
        try mainSocket.join("lobby")
        try adminSocket.join("lobby")
        try io.to("lobby").emit("main lobby")
        try admin.to("lobby").emit("admin lobby")
        try adminSocket.broadcast.emit("admin broadcast")  // no one else in /admin
        try io.emit("fence")
        try admin.emit("fence")
        try await mainClient.expectEvents(["main lobby", "fence"])
        try await adminClient.expectEvents(["admin lobby", "fence"])
        XCTAssertEqual(io.to("lobby").fetchSockets().map(\.id), [mainClient.id])
        XCTAssertEqual(admin.to("lobby").fetchSockets().map(\.id), [adminClient.id])
    }

    func test_namespaceMiddleware_refusesOnlyItsOwnNamespace() async throws {
        let io = try startServer()
        let admin = io.of("/admin")
        admin.use { handshake in
            guard handshake.query["role"] == "admin" else { throw ConnectError("forbidden") }
        }
        let refused = try await openClient(io, query: "nsp=/admin")
        let refusal = try await refused.nextStrict(event: "connect_error")
        XCTAssertEqual(refusal.json, #"{"message":"forbidden"}"#)
        _ = try await connectClient(io, query: "nsp=/admin&role=admin")
        _ = try await connectClient(io)
    }
}
