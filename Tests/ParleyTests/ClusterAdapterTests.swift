import Parley
import ParleyIO
import ParleyProtocol
import Synchronization
import TestSupport
import XCTest

/// A cluster engine written against Parley's public API only (this file does not import Parley
/// `@testable`): two servers in one process linked by an in-memory hub. Broadcasts, rooms,
/// exclusions and room operations must work across them as they do with Redis.
final class ClusterAdapterTests: XCTestCase {
    // MARK: The engine

    /// Links the servers of one process. Each server gets its own ``Node``; a node's operations
    /// reach the other nodes that registered the namespace, on their context's event loop, in
    /// the order published (a transport's hop, without the network).
    final class Hub: Sendable {
        private let nodes = Mutex<[ObjectIdentifier: (context: ClusterContext, namespaces: Set<String>)]>([:])
        /// Every operation published, by any node, in order.
        let published = Locked<[ClusterOperation]>([])

        final class Node: ClusterAdapter {
            let hub: Hub
            private let registered = Mutex<Set<String>>([])

            init(hub: Hub) { self.hub = hub }

            func start(_ context: ClusterContext) throws {
                let namespaces = registered.withLock { $0 }
                hub.nodes.withLock { $0[ObjectIdentifier(self)] = (context, namespaces) }
            }

            func register(namespace: String) {
                registered.withLock { _ = $0.insert(namespace) }
                hub.nodes.withLock { _ = $0[ObjectIdentifier(self)]?.namespaces.insert(namespace) }
            }

            func publish(_ operation: ClusterOperation) {
                hub.published.withLock { $0.append(operation) }
                let others = hub.nodes.withLock { nodes in
                    nodes.filter { $0.key != ObjectIdentifier(self) && $0.value.namespaces.contains(operation.selection.namespace) }
                        .map(\.value.context)
                }
                for context in others { context.loop.execute { context.apply(operation) } }
            }

            func stop() {
                hub.nodes.withLock { $0[ObjectIdentifier(self)] = nil }
            }
        }
    }

    /// An engine that cannot join its cluster.
    final class Unreachable: ClusterAdapter {
        struct Failure: Error, Equatable {}
        let stopped = Locked(false)
        func start(_ context: ClusterContext) throws { throw Failure() }
        func register(namespace: String) {}
        func publish(_ operation: ClusterOperation) {}
        func stop() { stopped.withLock { $0 = true } }
    }

    // MARK: Helpers

    private struct Member {
        let node: Int
        let client: EnvelopeClient
        let socket: Socket
    }

    /// Two servers on one hub with two clients each.
    private func startCluster() async throws -> (nodes: [Server], members: [Member], hub: Hub) {
        let hub = Hub()
        var nodes: [Server] = []
        var members: [Member] = []
        for node in 0..<2 {
            let io = try startServer { $0.clusterAdapter = Hub.Node(hub: hub) }
            let sockets = SocketRegistry(io.main)
            for _ in 0..<2 {
                let (client, socket) = try await connectPair(io, sockets)
                members.append(Member(node: node, client: client, socket: socket))
            }
            nodes.append(io)
        }
        return (nodes, members, hub)
    }

    /// Emits `fence` from `node`: every member must then receive exactly `expected(member)` and
    /// that fence; then a fence from the other node must come next everywhere (nothing was
    /// delivered twice, e.g. by a node applying its own publication again).
    private func fence(_ nodes: [Server], from node: Int, _ members: [Member], expect expected: (Member) -> [String],
                       file: StaticString = #filePath, line: UInt = #line) async throws {
        try nodes[node].emit("fence", 1)
        for member in members {
            try await member.client.expectEvents(expected(member), file: file, line: line)
            let fence = try await member.client.nextStrict(event: "fence", file: file, line: line)
            XCTAssertEqual(fence.json, "1", file: file, line: line)
        }
        try nodes[1 - node].emit("fence", 2)
        for member in members {
            let fence = try await member.client.nextStrict(event: "fence", file: file, line: line)
            XCTAssertEqual(fence.json, "2", "node \(member.node): nothing more after the first fence", file: file, line: line)
        }
    }

    // MARK: Tests

    func test_clusterAdapter_publishesPlainOperation_withSelectionFlagsAndEnvelopeBytes() async throws {
        let (nodes, members, hub) = try await startCluster()
        let sender = members[0]
        try sender.socket.join("r")
        try members[2].socket.join("r")
        try members[3].socket.join("r")
        try members[3].socket.join("x")
        try sender.socket.broadcast.to("r").except("x").volatile.emit("news", Chat(text: "hi", count: 1))
        let received = try await members[2].client.nextStrict(event: "news")
        try await fence(nodes, from: 0, members) { _ in [] }
        let published = hub.published.withLock { $0.first }
        let expected = BroadcastSelection(namespace: "/", rooms: ["r"], exceptRooms: ["x"], exceptSocket: sender.socket.id)
        XCTAssertEqual(published?.selection, expected)
        XCTAssertEqual(published?.flags, .volatile)
        guard case .emit(let envelope)? = published?.action else { return XCTFail("\(String(describing: published))") }
        XCTAssertEqual(envelope.bytes, EnvelopeCodec.encode(.event(name: "news", data: received.data, id: nil)),
                       "the bytes published are the envelope the clients received")
    }

    func test_clusterAdapter_broadcastAndSocketBroadcast_reachBothServers() async throws {
        let (nodes, members, _) = try await startCluster()
        for origin in 0..<2 {
            try nodes[origin].emit("news", origin)
            try await fence(nodes, from: origin, members) { _ in ["news"] }
        }
        for sender in members {
            try sender.socket.broadcast.emit("shout", sender.socket.id)
            try await fence(nodes, from: sender.node, members) { $0.socket == sender.socket ? [] : ["shout"] }
        }
    }

    func test_clusterAdapter_roomsAndExcept_selectOnBothServers() async throws {
        let (nodes, members, _) = try await startCluster()
        let inRoom: Set<Socket> = [members[1].socket, members[2].socket, members[3].socket]
        let banned: Set<Socket> = [members[3].socket]
        for member in members {
            if inRoom.contains(member.socket) { try member.socket.join("r") }
            if banned.contains(member.socket) { try member.socket.join("banned") }
        }
        for origin in 0..<2 {
            try nodes[origin].to("r").emit("room news")
            try nodes[origin].to("r").except("banned").emit("room but not banned")
            try nodes[origin].to(members[2].socket.id).emit("direct")
            try await fence(nodes, from: origin, members) { member in
                var expected: [String] = []
                if inRoom.contains(member.socket) { expected.append("room news") }
                if inRoom.contains(member.socket) && !banned.contains(member.socket) { expected.append("room but not banned") }
                if member.socket == members[2].socket { expected.append("direct") }
                return expected
            }
        }
    }

    func test_clusterAdapter_localOperations_stayOnTheirServer() async throws {
        let (nodes, members, hub) = try await startCluster()
        try nodes[1].local.emit("local news")
        nodes[1].local.socketsJoin("here")
        try nodes[0].to("here").emit("here news")
        try await fence(nodes, from: 0, members) { $0.node == 1 ? ["local news", "here news"] : [] }
        XCTAssertTrue(hub.published.withLock { $0 }.allSatisfy { !$0.flags.contains(.local) }, "local operations are never published")
    }

    func test_clusterAdapter_socketsJoinLeaveAndDisconnect_applyOnBothServers() async throws {
        let (nodes, members, _) = try await startCluster()
        let chosen: Set<Socket> = [members[0].socket, members[3].socket]
        for member in members where chosen.contains(member.socket) { try member.socket.join("chosen") }
        nodes[1].to("chosen").socketsJoin("vip", "lounge")
        try nodes[1].to("vip").emit("vip news")
        try await fence(nodes, from: 1, members) { chosen.contains($0.socket) ? ["vip news"] : [] }
        for member in members {
            XCTAssertEqual(member.socket.rooms.contains("lounge"), chosen.contains(member.socket), "node \(member.node)")
        }
        nodes[0].socketsLeave("vip")
        try nodes[0].to("vip").emit("nobody")
        try nodes[0].to("lounge").emit("lounge news")
        try await fence(nodes, from: 0, members) { chosen.contains($0.socket) ? ["lounge news"] : [] }

        nodes[0].to("lounge").disconnectSockets()
        for member in members where chosen.contains(member.socket) {
            let event = try await member.client.nextStrict(event: "disconnect")
            XCTAssertEqual(event.json, #"{"reason":"io server disconnect"}"#)
            let close = try await member.client.closed()
            XCTAssertEqual(close.code, .normalClosure)
        }
        try await fence(nodes, from: 0, members.filter { !chosen.contains($0.socket) }) { _ in [] }
        XCTAssertEqual(nodes.map(\.main.clientCount), [1, 1])
    }

    func test_clusterAdapter_namespaceOperations_reachThatNamespaceOnly() async throws {
        let hub = Hub()
        var nodes: [Server] = []
        var admins: [EnvelopeClient] = []
        var mains: [EnvelopeClient] = []
        for _ in 0..<2 {
            let io = try startServer { $0.clusterAdapter = Hub.Node(hub: hub) }
            _ = io.of("/admin")   // registered after start
            nodes.append(io)
            admins.append(try await connectClient(io, query: "nsp=/admin"))
            mains.append(try await connectClient(io))
        }
        try nodes[1].of("/admin").emit("admin news")
        try nodes[1].of("/admin").emit("fence")
        try nodes[1].emit("fence")
        for admin in admins { try await admin.expectEvents(["admin news", "fence"]) }
        for main in mains { try await main.expectEvents(["fence"]) }
    }

    func test_start_throwsTheAdaptersError_andNothingListens() throws {
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
        let adapter = Unreachable()
        configuration.clusterAdapter = adapter
        let io = Server(configuration)
        XCTAssertThrowsError(try io.start()) { error in
            XCTAssertEqual(error as? Unreachable.Failure, Unreachable.Failure())
        }
        XCTAssertEqual(io.port, 0, "nothing listens")
        XCTAssertTrue(adapter.stopped.value, "a failed start is stopped")
    }
}
