import Foundation
import Parley
import ParleyClient
import ParleyProtocol
import ParleyRedisAdapter
import ParleyTestSupport
import RedisTestSupport
import Synchronization
import TestSupport
import XCTest

/// Connection state recovery across nodes (Protocol.md 11.1): three servers with recovery on
/// one real redis-server; a client's connection is cut by a proxy (`shutdown(2)`) and the
/// client comes back through the proxy to another node.
final class RedisClusterRecoveryTests: XCTestCase {
    /// One node: its server, its sockets as they connect, and the ids of those that ended.
    struct Node {
        let io: Server
        let adapter: RedisClusterAdapter
        let sockets: SocketRegistry
        let disconnects: Mailbox<String>
    }

    /// A node with recovery on `redis` whose sockets join the room of their `join` event
    /// (acked) and answer `state` with their id, rooms and whether they were recovered.
    func startNode(_ redis: RedisTestServer, _ configure: (inout Server.ConnectionStateRecovery) -> Void = { _ in }) throws -> Node {
        let adapter = RedisClusterAdapter(url: redis.url)
        let io = try startServer { configuration in
            configuration.clusterAdapter = adapter
            var recovery = Server.ConnectionStateRecovery()
            configure(&recovery)
            configuration.connectionStateRecovery = recovery
        }
        let sockets = SocketRegistry(io.main)
        let disconnects = Mailbox<String>()
        io.onConnection { socket in
            socket.on("join") { (room: String, ack: Ack) in
                try socket.join(room)
                ack()
            }
            socket.on("state") { (ack: Ack) in ack(SocketState(id: socket.id, rooms: socket.rooms.sorted(), recovered: socket.recovered)) }
            socket.onDisconnect { _ in disconnects.put(socket.id) }
        }
        return Node(io: io, adapter: adapter, sockets: sockets, disconnects: disconnects)
    }

    func startCluster(_ redis: RedisTestServer, count: Int = 3) throws -> [Node] {
        try (0..<count).map { _ in try startNode(redis) }
    }

    /// Opens a page through `proxy` and awaits `connect`: its data and offset.
    func connectPage(_ proxy: CuttingProxy, query: String = "", file: StaticString = #filePath, line: UInt = #line)
        async throws -> (JSONPage, [String: any Sendable], String?) {
        let page = try await JSONPage.open("ws://127.0.0.1:\(proxy.port)/parley" + (query.isEmpty ? "" : "?" + query))
        let connect = try await page.next(event: "connect", file: file, line: line)
        return (page, connect.data, connect["offset"] as? String)
    }

    /// Emits `n` with each of `numbers` to everyone from `node`, and returns once a page on
    /// `witness` has the last one: Redis has taken every one, so a node started afterwards
    /// cannot get them live. The witness reads the stream like any node: with a small
    /// `maxPackets`, entries trimmed before it read them never reach it (Protocol.md 11.1).
    /// Returns how many the witness got.
    @discardableResult
    func emitToAll(_ numbers: ClosedRange<Int>, from node: Node, witness: Node) async throws -> Int {
        let page = try await JSONPage.open("ws://127.0.0.1:\(witness.io.port)/parley")
        _ = try await page.next(event: "connect")
        for number in numbers { try node.io.emit("n", number) }
        var last = numbers.lowerBound - 1
        var received = 0
        while last < numbers.upperBound {
            let event = try await page.next(event: "n")
            let number = try XCTUnwrap(event.number)
            XCTAssertGreaterThan(number, last, "in order")
            last = number
            received += 1
        }
        return received
    }

    /// Waits until `node`'s server saw the socket `id` end.
    func expectDisconnect(_ node: Node, _ id: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        _ = try await node.disconnects.expect("the disconnect of \(id)", file: file, line: line) { $0 == id }
    }

    /// Waits (bounded) until every node's adapter has all its connections to Redis up.
    func awaitConnected(_ nodes: [Node], file: StaticString = #filePath, line: UInt = #line) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while nodes.contains(where: { !$0.adapter.status.connected }) {
            guard ContinuousClock.now < deadline else { return XCTFail("the adapters did not reconnect to Redis", file: file, line: line) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Whether the stream id `offset` comes after `other` (`MS-SEQ`, compared as numbers).
    static func isAfter(_ offset: String, _ other: String) -> Bool {
        func parts(_ text: String) -> [UInt64] { text.split(separator: "-").compactMap { UInt64($0) } }
        return parts(offset).count == 2 && parts(other).lexicographicallyPrecedes(parts(offset))
    }

    func test_recovery_pageCutAndSentToAnotherNode_getsSameIDRoomsDataAndEveryMissedEventOnceInOrder() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis)
        let proxy = try CuttingProxy(target: nodes[0].io.port)
        defer { proxy.stop() }
        let (page, connect, firstOffset) = try await connectPage(proxy)
        let id = try XCTUnwrap(connect["id"] as? String)
        let token = try XCTUnwrap(connect["token"] as? String)
        XCTAssertEqual(connect["recovered"] as? Bool, false)
        XCTAssertNotNil(firstOffset.flatMap { $0.contains("-") ? $0 : nil }, "a stream id: \(String(describing: firstOffset))")
        let first = try await nodes[0].sockets.socket(id: id)
        first.data["score"] = 7
        first.data["name"] = "ada"
        page.send(#"{"event":"join","data":"news","id":1}"#)
        _ = try await page.next()
        // Live events from every node, with offsets that increase.
        var lastOffset = try XCTUnwrap(firstOffset)
        for number in 1...3 {
            try nodes[number % 3].io.to("news").emit("n", number)
            let event = try await page.next(event: "n")
            XCTAssertEqual(event.number, number)
            let offset = try XCTUnwrap(event["offset"] as? String)
            XCTAssertTrue(Self.isAfter(offset, lastOffset), "\(offset) after \(lastOffset)")
            lastOffset = offset
        }
        XCTAssertEqual(proxy.cut(), 1)
        try await expectDisconnect(nodes[0], id)
        // Missed, from every node: room broadcasts, one to everyone, one to another room (not
        // for this page), a direct emit through the old socket object, a volatile one (never
        // kept). Nodes append to the stream concurrently: their order there is Redis's.
        try nodes[1].io.to("news").emit("n", 4)
        try nodes[2].io.emit("n", 5)
        try nodes[0].io.to("news").emit("n", 6)
        try nodes[1].io.to("elsewhere").emit("n", 99)
        try first.emit("n", 7)
        try nodes[2].io.volatile.emit("n", 98)
        // Back through the proxy to node 1.
        proxy.target.withLock { $0 = nodes[1].io.port }
        let (again, reconnect, reconnectOffset) = try await connectPage(proxy, query: "recoveryToken=\(token)&recoveryOffset=\(lastOffset)")
        XCTAssertEqual(reconnect["recovered"] as? Bool, true, "\(reconnect)")
        XCTAssertEqual(reconnect["id"] as? String, id)
        XCTAssertEqual(reconnect["token"] as? String, token)
        XCTAssertNil(reconnect["reason"])
        XCTAssertNil(reconnectOffset, "a recovered connect keeps the client's offset")
        // Redis hands node 2's volatile emit to each node in its own time: it can reach node 1
        // after the page came back and then arrives live, at most once and never kept.
        var volatileSeen = false
        func nextKept() async throws -> [String: any Sendable] {
            while true {
                let received = try await again.next(event: "n")
                guard received.number == 98 else { return received }
                XCTAssertFalse(volatileSeen, "the volatile event at most once")
                XCTAssertNil(received["offset"], "a volatile event is not kept: \(received)")
                volatileSeen = true
            }
        }
        var missed: [Int] = []
        for _ in 4...7 {
            let received = try await nextKept()
            missed.append(try XCTUnwrap(received.number))
            let offset = try XCTUnwrap(received["offset"] as? String)
            XCTAssertTrue(Self.isAfter(offset, lastOffset), "\(offset) after \(lastOffset): replayed in stream order")
            lastOffset = offset
        }
        XCTAssertEqual(missed.sorted(), [4, 5, 6, 7], "each missed event once")
        try nodes[2].io.to("news").emit("n", 8)
        let live = try await nextKept()
        XCTAssertEqual(live.number, 8, "live events follow the replay, nothing else between")
        let second = try await nodes[1].sockets.socket(id: id)
        XCTAssertTrue(second.recovered)
        XCTAssertEqual(second.rooms, [id, "news"])
        XCTAssertEqual(second.data["score"] as? Int, 7)
        XCTAssertEqual(second.data["name"] as? String, "ada")
        // The session is node 1's now: the token presented to node 2 finds nothing in Redis.
        proxy.target.withLock { $0 = nodes[2].io.port }
        let (_, elsewhere, _) = try await connectPage(proxy, query: "recoveryToken=\(token)&recoveryOffset=\(lastOffset)")
        XCTAssertEqual(elsewhere["recovered"] as? Bool, false)
        XCTAssertEqual(elsewhere["reason"] as? String, "unknown session")
        XCTAssertTrue(second.connected, "the recovered socket stays")
        _ = page
    }

    func test_recovery_onNodeStartedAfterTheEvents_replaysThemFromTheStream() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis, count: 2)
        let proxy = try CuttingProxy(target: nodes[0].io.port)
        defer { proxy.stop() }
        let (_, connect, offset) = try await connectPage(proxy)
        let id = try XCTUnwrap(connect["id"] as? String)
        let token = try XCTUnwrap(connect["token"] as? String)
        _ = try await nodes[0].sockets.socket(id: id)
        proxy.cut()
        try await expectDisconnect(nodes[0], id)
        try await emitToAll(1...5, from: nodes[1], witness: nodes[0])
        // A third node starts after the events: its own log begins after them.
        let late = try startNode(redis)
        proxy.target.withLock { $0 = late.io.port }
        let (page, reconnect, _) = try await connectPage(proxy, query: "recoveryToken=\(token)&recoveryOffset=\(try XCTUnwrap(offset))")
        XCTAssertEqual(reconnect["recovered"] as? Bool, true, "\(reconnect)")
        XCTAssertEqual(reconnect["id"] as? String, id)
        for number in 1...5 {
            let received = try await page.next(event: "n")
            XCTAssertEqual(received.number, number)
        }
        try nodes[0].io.emit("n", 6)
        let live = try await page.next(event: "n")
        XCTAssertEqual(live.number, 6)
    }

    func test_nodeShutDown_itsClientRecoversOnAnotherNode() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis, count: 2)
        let proxy = try CuttingProxy(target: nodes[0].io.port)
        defer { proxy.stop() }
        let (page, connect, _) = try await connectPage(proxy)
        let id = try XCTUnwrap(connect["id"] as? String)
        let token = try XCTUnwrap(connect["token"] as? String)
        let first = try await nodes[0].sockets.socket(id: id)
        first.data["score"] = 9
        page.send(#"{"event":"join","data":"news","id":1}"#)
        _ = try await page.next()
        try nodes[1].io.to("news").emit("n", 1)
        let event = try await page.next(event: "n")
        let lastOffset = try XCTUnwrap(event["offset"] as? String)
        // Node 0 shuts down: its client is told to come back later (1001), its session is in Redis.
        await nodes[0].io.close(gracePeriod: .milliseconds(200))
        try nodes[1].io.to("news").emit("n", 2)
        proxy.target.withLock { $0 = nodes[1].io.port }
        let (again, reconnect, _) = try await connectPage(proxy, query: "recoveryToken=\(token)&recoveryOffset=\(lastOffset)")
        XCTAssertEqual(reconnect["recovered"] as? Bool, true, "\(reconnect)")
        XCTAssertEqual(reconnect["id"] as? String, id)
        let missed = try await again.next(event: "n")
        XCTAssertEqual(missed.number, 2)
        let second = try await nodes[1].sockets.socket(id: id)
        XCTAssertEqual(second.rooms, [id, "news"])
        XCTAssertEqual(second.data["score"] as? Int, 9)
    }

    func test_recovery_refusedWithReason_forForgedTokenAndTrimmedStream() async throws {
        let redis = try startRedis()
        // Two entries kept: `MAXLEN ~` trims whole blocks of the stream (100 entries).
        let nodes = try (0..<2).map { _ in try startNode(redis) { $0.maxPackets = 2 } }
        let proxy = try CuttingProxy(target: nodes[0].io.port)
        defer { proxy.stop() }
        let (_, forged, _) = try await connectPage(proxy, query: "recoveryToken=AAAAAAAAAAAAAAAAAAAAAA&recoveryOffset=0-0")
        XCTAssertEqual(forged["recovered"] as? Bool, false)
        XCTAssertEqual(forged["reason"] as? String, "unknown session")
        let (watcher, connect, offset) = try await connectPage(proxy)
        let id = try XCTUnwrap(connect["id"] as? String)
        _ = try await nodes[0].sockets.socket(id: id)
        proxy.cut()
        try await expectDisconnect(nodes[0], id)
        // Node 0 reads one of node 1's entries first: a jump after it is what it can count.
        try await emitToAll(0...0, from: nodes[1], witness: nodes[0])
        let witnessed = try await emitToAll(1...300, from: nodes[1], witness: nodes[0])
        // What node 0 did not read before the stream was trimmed, it counts (Protocol.md 11.1).
        XCTAssertEqual(witnessed + nodes[0].adapter.status.entriesMissed, 300, "got \(witnessed)")
        XCTAssertEqual(nodes[0].io.metrics.cluster?.entriesMissed, nodes[0].adapter.status.entriesMissed)
        _ = watcher
        // Node 2 starts now: its log does not reach back, and the stream lost the first entries.
        let late = try startNode(redis) { $0.maxPackets = 2 }
        proxy.target.withLock { $0 = late.io.port }
        let query = "recoveryToken=\(try XCTUnwrap(connect["token"] as? String))&recoveryOffset=\(try XCTUnwrap(offset))"
        let (page, dropped, droppedOffset) = try await connectPage(proxy, query: query)
        XCTAssertEqual(dropped["recovered"] as? Bool, false)
        XCTAssertEqual(dropped["reason"] as? String, "packets no longer kept")
        XCTAssertNotEqual(dropped["id"] as? String, id)
        XCTAssertNotNil(droppedOffset)
        try nodes[1].io.emit("n", 301)
        let received = try await page.next(event: "n")
        XCTAssertEqual(received.number, 301, "the first event after a refused recovery is a live one")
    }

    func test_redisStopped_freshSessionsWithReason_serversKeepServing_recoveryResumesWhenRedisReturns() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis)
        let proxy = try CuttingProxy(target: nodes[0].io.port)
        defer { proxy.stop() }
        let (_, connect, offset) = try await connectPage(proxy)
        let id = try XCTUnwrap(connect["id"] as? String)
        _ = try await nodes[0].sockets.socket(id: id)
        proxy.cut()
        try await expectDisconnect(nodes[0], id)
        redis.stop()
        proxy.target.withLock { $0 = nodes[1].io.port }
        let query = "recoveryToken=\(try XCTUnwrap(connect["token"] as? String))&recoveryOffset=\(try XCTUnwrap(offset))"
        let (page, fresh, _) = try await connectPage(proxy, query: query)
        XCTAssertEqual(fresh["recovered"] as? Bool, false)
        XCTAssertEqual(fresh["reason"] as? String, "recovery unavailable")
        XCTAssertNotEqual(fresh["id"] as? String, id)
        // Each node keeps serving its own clients: events without an offset (not kept).
        try nodes[1].io.emit("n", 1)
        let during = try await page.next(event: "n")
        XCTAssertEqual(during.number, 1)
        XCTAssertNil(during["offset"], "not kept while Redis is down")
        // Redis back (empty) on the same port: recovery works again.
        try redis.restart()
        try await awaitConnected(nodes)
        proxy.target.withLock { $0 = nodes[2].io.port }
        let (next, nextConnect, _) = try await connectPage(proxy)
        let nextID = try XCTUnwrap(nextConnect["id"] as? String)
        _ = try await nodes[2].sockets.socket(id: nextID)
        try nodes[0].io.emit("n", 2)
        let kept = try await next.next(event: "n")
        XCTAssertEqual(kept.number, 2)
        let keptOffset = try XCTUnwrap(kept["offset"] as? String)
        proxy.cut()
        try await expectDisconnect(nodes[2], nextID)
        try nodes[1].io.emit("n", 3)
        proxy.target.withLock { $0 = nodes[0].io.port }
        let recoverQuery = "recoveryToken=\(try XCTUnwrap(nextConnect["token"] as? String))&recoveryOffset=\(keptOffset)"
        let (back, recovered, _) = try await connectPage(proxy, query: recoverQuery)
        XCTAssertEqual(recovered["recovered"] as? Bool, true, "\(recovered)")
        XCTAssertEqual(recovered["id"] as? String, nextID)
        let missed = try await back.next(event: "n")
        XCTAssertEqual(missed.number, 3)
    }

    func test_client_cutEvery100msAndSentToTheNextNode_receivesEveryNumberOnceInOrder_sameIDAndRooms() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis)
        try await rotateClientAcrossNodes(nodes, socketIO: false)
    }

    /// A `ParleyClient` (envelope, or Socket.IO with `socketIO`) joins a room through a
    /// cutting proxy; every ~100 ms its connection is cut and the next goes to the next node
    /// while the nodes emit 1,000 numbers to the room: each arrives once, each node's in its
    /// order, and the client keeps its id and rooms, recovered.
    func rotateClientAcrossNodes(_ nodes: [Node], socketIO: Bool) async throws {
        let proxy = try CuttingProxy(target: nodes[0].io.port)
        defer { proxy.stop() }
        var options = Client.Options()
        options.autoConnect = false
        if socketIO { options.protocol = .socketIO }
        options.reconnectionDelay = .milliseconds(20)
        options.reconnectionDelayMax = .milliseconds(100)
        let client = Client(url: socketIO ? "http://127.0.0.1:\(proxy.port)" : "ws://127.0.0.1:\(proxy.port)/parley", options: options)
        addTeardownBlock { client.disconnect() }
        let connects = Mailbox<Void>()
        client.on(.connect) { connects.put(()) }
        let total = 1000
        let received = Locked<[Int]>([])
        let done = Mailbox<Void>()
        client.on("n") { (number: Int) in
            let count = received.withLock { numbers in
                numbers.append(number)
                return numbers.count
            }
            if count == total { done.put(()) }
        }
        client.connect()
        _ = try await connects.expect("connect")
        let id = try XCTUnwrap(client.id)
        let _: RawJSON = try await client.emitWithAck("join", "numbers")
        // Every ~100 ms the next connection goes to the next node, and the current one is cut.
        let cutting = Atomic<Bool>(true)
        let cutter = Task {
            var cuts = 0
            var node = 0
            while true {
                try? await Task.sleep(for: .milliseconds(100))
                guard cutting.load(ordering: .acquiring) else { return cuts }
                node = (node + 1) % nodes.count
                let port = nodes[node].io.port
                proxy.target.withLock { $0 = port }
                cuts += proxy.cut()
            }
        }
        // Numbers 1...total, each node emitting every third one: one node's appends keep
        // their order in the stream, different nodes' are ordered by Redis.
        for number in 1...total {
            try nodes[number % 3].io.to("numbers").emit("n", number)
            if number % 10 == 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        _ = try await done.expect("\(total) numbers", timeout: .seconds(30))
        cutting.store(false, ordering: .releasing)
        let cuts = await cutter.value
        XCTAssertGreaterThanOrEqual(cuts, 2, "the connection was cut while numbers went out")
        let numbers = received.value
        XCTAssertEqual(numbers.count, total, "no number lost, none twice")
        XCTAssertEqual(numbers.sorted(), Array(1...total), "each number once")
        for origin in 0..<3 {
            let fromOrigin = numbers.filter { $0 % 3 == origin }
            XCTAssertEqual(fromOrigin, fromOrigin.sorted(), "node \(origin)'s numbers in the order it emitted them")
        }
        var state: SocketState?
        for _ in 0..<5 where state == nil {
            do { state = try await client.emitWithAck("state") } catch ClientError.disconnected { _ = try await connects.expect("connect") }
        }
        XCTAssertEqual(client.id, id)
        XCTAssertTrue(client.recovered)
        XCTAssertNil(client.recoveryFailure)
        XCTAssertEqual(state, SocketState(id: id, rooms: [id, "numbers"].sorted(), recovered: true))
    }
}

/// A socket's id, rooms and whether it was recovered, as the server reports them.
struct SocketState: Codable, Sendable, Equatable {
    var id: String
    var rooms: [String]
    var recovered: Bool
}
