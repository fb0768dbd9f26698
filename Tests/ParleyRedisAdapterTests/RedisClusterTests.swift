import Parley
import ParleyProtocol
import ParleyRedis
import ParleyRedisAdapter
import ParleyTestSupport
import ParleyWebSocket
import RedisTestSupport
import TestSupport
import XCTest

/// Three servers on one real redis-server: broadcasts, room emits and exclusions from any node
/// reach the right sockets of every node exactly once. Each check ends with a fence emitted from
/// the same node as the emits under test (one node's publications reach every other node in
/// order): a client's next events must be exactly the expected ones, then the fence.
final class RedisClusterTests: XCTestCase {
    private struct Member {
        let node: Int
        let client: EnvelopeClient
        let socket: Socket
    }

    private func startNode(_ redis: RedisTestServer, gracePeriod: Duration = .milliseconds(500)) throws -> Server {
        try startServer(gracePeriod: gracePeriod) { $0.clusterAdapter = RedisClusterAdapter(url: redis.url) }
    }

    /// Three nodes on one Redis with `perNode` clients each.
    private func startCluster(perNode: Int = 2) async throws -> (nodes: [Server], members: [Member], redis: RedisTestServer) {
        let redis = try startRedis()
        var nodes: [Server] = []
        var members: [Member] = []
        for node in 0..<3 {
            let io = try startNode(redis)
            let sockets = SocketRegistry(io.main)
            for _ in 0..<perNode {
                let (client, socket) = try await connectPair(io, sockets)
                members.append(Member(node: node, client: client, socket: socket))
            }
            nodes.append(io)
        }
        return (nodes, members, redis)
    }

    /// Emits `fence` from `node`: every member must then receive exactly `expected(member)` and
    /// that fence. Then a second fence from another node must come next everywhere. Redis sent
    /// the first fence to every node before the second one was published, and each node hears
    /// Redis in order: so a copy of anything from `node` (a node hearing its own publication)
    /// would show up before the second fence.
    private func fence(_ nodes: [Server], from node: Int, _ members: [Member], expect expected: (Member) -> [String],
                       file: StaticString = #filePath, line: UInt = #line) async throws {
        try nodes[node].emit("fence", 1)
        for member in members {
            try await member.client.expectEvents(expected(member), file: file, line: line)
            let fence = try await member.client.nextStrict(event: "fence", file: file, line: line)
            XCTAssertEqual(fence.json, "1", file: file, line: line)
        }
        try nodes[(node + 1) % nodes.count].emit("fence", 2)
        for member in members {
            let fence = try await member.client.nextStrict(event: "fence", file: file, line: line)
            XCTAssertEqual(fence.json, "2", "node \(member.node): nothing more after the first fence", file: file, line: line)
        }
    }

    // MARK: Broadcast

    func test_ioEmit_fromEachNode_reachesEveryClientOfEveryNodeOnce() async throws {
        let (nodes, members, _) = try await startCluster()
        for origin in 0..<3 {
            try nodes[origin].emit("news", origin)
            for member in members {
                let news = try await member.client.nextStrict(event: "news")
                XCTAssertEqual(news.json, String(origin))
            }
            try await fence(nodes, from: origin, members) { _ in [] }
        }
    }

    func test_socketBroadcast_fromEachNode_reachesEveryoneButSender() async throws {
        let (nodes, members, _) = try await startCluster()
        for sender in members {
            try sender.socket.broadcast.emit("shout", sender.socket.id)
            try await fence(nodes, from: sender.node, members) { $0.socket == sender.socket ? [] : ["shout"] }
        }
    }

    func test_broadcast_carriesEnvelopeBytesUnchanged_acrossNodes() async throws {
        let (nodes, members, _) = try await startCluster(perNode: 1)
        let data = try RawJSON(json: #"{"text":"h\u00e9llo \ud83d\ude00","n":[1.50,2e3,null],"s":"\/"}"#)
        try nodes[0].emit("raw", data)
        for member in members {
            let event = try await member.client.nextStrict(event: "raw")
            XCTAssertEqual(event.data?.bytes, data.bytes, "node \(member.node) got the bytes as emitted")
        }
        try await fence(nodes, from: 0, members) { _ in [] }
    }

    // MARK: Rooms and exclusions

    func test_roomEmit_fromEachNode_reachesMembersOnAllNodes() async throws {
        let (nodes, members, _) = try await startCluster()
        // One member of "r" on each node: node 0's second, node 1's first, node 2's second.
        let inRoom: Set<Socket> = [members[1].socket, members[2].socket, members[5].socket]
        for member in members where inRoom.contains(member.socket) { try member.socket.join("r") }
        for origin in 0..<3 {
            try nodes[origin].to("r").emit("room news")
            try await fence(nodes, from: origin, members) { inRoom.contains($0.socket) ? ["room news"] : [] }
        }
    }

    func test_socketToRoom_fromMemberOfEachNode_reachesOtherMembersOnly() async throws {
        let (nodes, members, _) = try await startCluster()
        let inRoom: Set<Socket> = [members[0].socket, members[3].socket, members[4].socket]
        for member in members where inRoom.contains(member.socket) { try member.socket.join("r") }
        for sender in members where inRoom.contains(sender.socket) {
            try sender.socket.to("r").emit("room news")
            try await fence(nodes, from: sender.node, members) {
                inRoom.contains($0.socket) && $0.socket != sender.socket ? ["room news"] : []
            }
        }
    }

    func test_except_fromEachNode_skipsRoomMembersOnAllNodes() async throws {
        let (nodes, members, _) = try await startCluster()
        let banned: Set<Socket> = [members[0].socket, members[3].socket]
        let inRoom: Set<Socket> = [members[1].socket, members[3].socket, members[5].socket]
        for member in members {
            if banned.contains(member.socket) { try member.socket.join("banned") }
            if inRoom.contains(member.socket) { try member.socket.join("r") }
        }
        for origin in 0..<3 {
            try nodes[origin].except("banned").emit("outside news")
            try nodes[origin].to("r").except("banned").emit("room but not banned")
            try await fence(nodes, from: origin, members) { member in
                var expected: [String] = []
                if !banned.contains(member.socket) { expected.append("outside news") }
                if inRoom.contains(member.socket) && !banned.contains(member.socket) { expected.append("room but not banned") }
                return expected
            }
        }
    }

    func test_toSocketID_reachesThatSocketOnItsNode() async throws {
        let (nodes, members, _) = try await startCluster()
        let target = members[4]  // on node 2
        try nodes[0].to(target.socket.id).emit("direct")
        try await fence(nodes, from: 0, members) { $0.socket == target.socket ? ["direct"] : [] }
    }

    func test_localEmit_staysOnItsNode() async throws {
        let (nodes, members, _) = try await startCluster()
        try nodes[1].local.emit("local news")
        try nodes[1].local.to("nobody").emit("nothing")
        try await fence(nodes, from: 1, members) { $0.node == 1 ? ["local news"] : [] }
        let sender = members[0]
        try sender.socket.broadcast.local.emit("local shout")
        try await fence(nodes, from: 0, members) { $0.node == 0 && $0.socket != sender.socket ? ["local shout"] : [] }
    }

    func test_namespaceEmit_reachesThatNamespaceOnAllNodes_only() async throws {
        let redis = try startRedis()
        var nodes: [Server] = []
        var admins: [EnvelopeClient] = []
        var mains: [EnvelopeClient] = []
        for _ in 0..<3 {
            let io = try startNode(redis)
            _ = io.of("/admin")
            nodes.append(io)
            admins.append(try await connectClient(io, query: "nsp=/admin"))
            mains.append(try await connectClient(io))
        }
        try nodes[2].of("/admin").emit("admin news")
        try nodes[2].of("/admin").emit("fence")
        try nodes[2].of("/admin").emit("fence 2")
        try nodes[2].emit("fence")
        for admin in admins { try await admin.expectEvents(["admin news", "fence", "fence 2"]) }
        for main in mains { try await main.expectEvents(["fence"]) }
    }

    // MARK: Room operations across nodes

    func test_socketsJoinAndLeave_fromOneNode_applyOnEveryNode() async throws {
        let (nodes, members, _) = try await startCluster()
        let chosen: Set<Socket> = [members[0].socket, members[3].socket, members[5].socket]
        for member in members where chosen.contains(member.socket) { try member.socket.join("chosen") }
        nodes[1].to("chosen").socketsJoin("vip", "lounge")   // members of "chosen" on every node join
        // Node 1's later publications reach every node after the join.
        try nodes[1].to("vip").emit("vip news")
        try await fence(nodes, from: 1, members) { chosen.contains($0.socket) ? ["vip news"] : [] }
        for member in members {
            XCTAssertEqual(member.socket.rooms.contains("lounge"), chosen.contains(member.socket), "node \(member.node)")
        }
        nodes[2].socketsLeave("vip")
        try nodes[2].to("vip").emit("nobody")
        try nodes[2].to("lounge").emit("lounge news")
        try await fence(nodes, from: 2, members) { chosen.contains($0.socket) ? ["lounge news"] : [] }
        nodes[0].socketsJoin("everyone")
        try nodes[0].to("everyone").emit("all joined")
        try await fence(nodes, from: 0, members) { _ in ["all joined"] }
    }

    func test_disconnectSockets_fromOneNode_disconnectsSelectedSocketsOnEveryNode() async throws {
        let (nodes, members, _) = try await startCluster()
        let leaving: Set<Socket> = [members[1].socket, members[2].socket, members[4].socket]
        for member in members where leaving.contains(member.socket) { try member.socket.join("leaving") }
        nodes[0].to("leaving").disconnectSockets()
        for member in members where leaving.contains(member.socket) {
            let event = try await member.client.nextStrict(event: "disconnect")
            XCTAssertEqual(event.json, #"{"reason":"io server disconnect"}"#)
            let close = try await member.client.closed()
            XCTAssertEqual(close.code, .normalClosure)
        }
        let staying = members.filter { !leaving.contains($0.socket) }
        try await fence(nodes, from: 0, staying) { _ in [] }
        XCTAssertEqual(nodes.map(\.main.clientCount), [1, 1, 1])
    }

    func test_localRoomOperations_stayOnTheirNode() async throws {
        let (nodes, members, _) = try await startCluster()
        nodes[2].local.socketsJoin("here")
        try nodes[0].to("here").emit("here news")
        try await fence(nodes, from: 0, members) { $0.node == 2 ? ["here news"] : [] }
    }

    // MARK: Start-up errors

    func test_start_throwsAuthFailed_forWrongRedisPassword() throws {
        let redis = try startRedis(password: "right")
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
        configuration.clusterAdapter = RedisClusterAdapter(url: "redis://:wrong@127.0.0.1:\(redis.port)")
        let io = Server(configuration)
        XCTAssertThrowsError(try io.start()) { error in
            guard case RedisError.authFailed(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("WRONGPASS"), message)
            XCTAssertTrue(String(describing: error).hasPrefix("Redis refused authentication"), "\(error)")
        }
        XCTAssertEqual(io.port, 0, "nothing listens")
        configuration.clusterAdapter = RedisClusterAdapter(url: "redis://:right@127.0.0.1:\(redis.port)")
        let good = Server(configuration)
        XCTAssertNoThrow(try good.start())
        addTeardownBlock { await good.close() }
    }

    func test_start_throwsClearErrors_forBadURLAndUnreachableRedis() throws {
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
        configuration.clusterAdapter = RedisClusterAdapter(url: "http://localhost:6379")
        XCTAssertThrowsError(try Server(configuration).start()) { error in
            guard case RedisError.invalidURL = error else { return XCTFail("\(error)") }
        }
        let port = RedisTestServer.freePort()
        configuration.clusterAdapter = RedisClusterAdapter(url: "redis://127.0.0.1:\(port)")
        XCTAssertThrowsError(try Server(configuration).start()) { error in
            XCTAssertEqual(error as? RedisError, .connectFailed(host: "127.0.0.1", port: port, errno: ECONNREFUSED))
        }
    }

    // MARK: Outage

    func test_redisRestart_localDeliveryContinues_andCrossNodeResumes() async throws {
        let (nodes, members, redis) = try await startCluster(perNode: 1)
        try nodes[0].emit("before")
        try await fence(nodes, from: 0, members) { _ in ["before"] }

        redis.stop()
        // Local delivery never stops: each node's own client gets its node's emits.
        for round in 0..<3 {
            for (node, io) in nodes.enumerated() {
                try io.emit("during", round)
                let event = try await members[node].client.nextStrict(event: "during")
                XCTAssertEqual(event.json, String(round))
            }
        }

        try redis.restart()
        // Cross-node delivery resumes by itself: probe each node until another node hears it.
        let start = ContinuousClock.now
        for origin in 0..<3 {
            let listener = members[(origin + 1) % 3].client
            var heard = false
            for attempt in 0..<80 where !heard {
                try nodes[origin].emit("probe \(origin)", attempt)
                heard = await listener.take(event: "probe \(origin)", timeout: .milliseconds(100)) != nil
            }
            XCTAssertTrue(heard, "node \(origin) reaches the others again")
        }
        XCTAssertLessThan(secondsSince(start), 8, "resumed within a few seconds")

        // Nothing emitted during the outage crossed over, and everything after it does, once.
        for origin in 0..<3 {
            try nodes[origin].emit("after", origin)
            try nodes[origin].emit("fence")
            for member in members {
                try await member.client.expectEvents(["after", "fence"], ignoring: ["probe 0", "probe 1", "probe 2"])
            }
        }
        for origin in 0..<3 { try await fence(nodes, from: origin, members) { _ in [] } }
    }

    // MARK: Load

    func test_ioEmit_reachesThousandClientsSpreadOverThreeNodes() async throws {
        let clientCount = 1000
        let group = EventLoopGroup(loopCount: 2, name: "parley-test-clients")
        addTeardownBlock { group.shutdown() }
        let redis = try startRedis()
        var nodes: [Server] = []
        for _ in 0..<3 { nodes.append(try startNode(redis, gracePeriod: .seconds(10))) }
        let urls = nodes.map { $0.url() }
        let clients = try await withThrowingTaskGroup(of: [EnvelopeClient].self) { tasks in
            for task in 0..<20 {
                tasks.addTask {
                    var clients: [EnvelopeClient] = []
                    for index in 0..<(clientCount / 20) {
                        let client = try await EnvelopeClient.connect(urls[(task * 50 + index) % 3], group: group)
                        try await client.awaitConnect()
                        clients.append(client)
                    }
                    return clients
                }
            }
            return try await tasks.reduce(into: []) { $0 += $1 }
        }
        XCTAssertEqual(clients.count, clientCount)
        XCTAssertEqual(nodes.map(\.main.clientCount).reduce(0, +), clientCount)
        XCTAssertTrue(nodes.allSatisfy { $0.main.clientCount >= 333 })

        try nodes[1].emit("news", Chat(text: "to everyone", count: clientCount))
        try nodes[1].emit("fence")
        for client in clients {
            let news = try await client.nextStrict(event: "news", timeout: .seconds(30))
            XCTAssertEqual(news.json, #"{"count":1000,"text":"to everyone"}"#)
            _ = try await client.nextStrict(event: "fence", timeout: .seconds(30))
        }
        for client in clients { client.assertOnlyEnvelopesReceived() }
    }
}

extension EnvelopeClient {
    /// Like ``expectEvents(_:file:line:)``, skipping events named in `ignoring`.
    func expectEvents(_ names: [String], ignoring: Set<String>, file: StaticString = #filePath, line: UInt = #line) async throws {
        var remaining = names[...]
        while let name = remaining.first {
            let envelope = try await next(file: file, line: line)
            if case .event(let received, _, _) = envelope, ignoring.contains(received) { continue }
            guard case .event(name, _, _) = envelope else {
                XCTFail("expected event '\(name)' next, got \(envelope)", file: file, line: line)
                throw UnexpectedEnvelope(envelope: envelope)
            }
            remaining = remaining.dropFirst()
        }
    }
}
