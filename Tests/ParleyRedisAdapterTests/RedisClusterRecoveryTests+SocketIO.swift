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

/// Connection state recovery of Socket.IO clients across nodes (Protocol.md 11.1, 12.4): the
/// client speaks Socket.IO 4.6 on the wire (``SocketIORecoveringClient``), its connection is cut
/// by a proxy and it comes back to another node with `pid` and `offset` in `auth`.
extension RedisClusterRecoveryTests {
    /// `auth` asking for `pid`'s session after `offset`.
    private func auth(_ pid: String, _ offset: String) -> String {
        SocketIORecoveringClient.recoveryAuth(pid: pid, offset: offset)
    }

    /// A Socket.IO client joined to `/` through `proxy`: its `sid`, `pid` and the offset of its
    /// new session (a stream id).
    private func connectSocketIO(_ proxy: CuttingProxy, file: StaticString = #filePath, line: UInt = #line)
        async throws -> (client: SocketIORecoveringClient, sid: String, pid: String, offset: String) {
        let client = try await SocketIORecoveringClient(port: proxy.port)
        let connect = try await client.join(file: file, line: line)
        let sid = try XCTUnwrap(connect["sid"] as? String, "\(connect)", file: file, line: line)
        let pid = try XCTUnwrap(connect["pid"] as? String, "\(connect)", file: file, line: line)
        let offset = try XCTUnwrap(connect["offset"] as? String, "\(connect)", file: file, line: line)
        XCTAssertTrue(offset.contains("-"), "a stream id: \(offset)", file: file, line: line)
        return (client, sid, pid, offset)
    }

    /// The `state` acknowledgement of a Socket.IO client: its socket's id, rooms and whether it
    /// was recovered, as the server sees them.
    private func state(of client: SocketIORecoveringClient, id: Int, file: StaticString = #filePath, line: UInt = #line)
        async throws -> SocketState {
        let answer = try await client.call("state", id: id, file: file, line: line)
        let object = try XCTUnwrap(answer.first, "\(answer)", file: file, line: line)
        return try JSONDecoder().decode(SocketState.self, from: JSONSerialization.data(withJSONObject: object))
    }

    func test_socketIORecovery_clientCutAndSentToAnotherNode_getsSameSidRoomsDataAndEveryMissedEventOnceInOrder() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis)
        let proxy = try CuttingProxy(target: nodes[0].io.port)
        defer { proxy.stop() }
        var (client, sid, pid, lastOffset) = try await connectSocketIO(proxy)
        XCTAssertNotEqual(pid, sid)
        let first = try await nodes[0].sockets.socket(id: sid)
        XCTAssertFalse(first.recovered)
        first.data["score"] = 7
        first.data["name"] = "ada"
        _ = try await client.call("join", #""news""#, id: 1)
        // Live events from every node, with offsets that increase.
        for number in 1...3 {
            try nodes[number % 3].io.to("news").emit("n", number)
            let event = try await client.nextNumbered()
            XCTAssertEqual(event.number, number)
            XCTAssertTrue(Self.isAfter(event.offset, lastOffset), "\(event.offset) after \(lastOffset)")
            lastOffset = event.offset
        }
        XCTAssertEqual(proxy.cut(), 1)
        try await expectDisconnect(nodes[0], sid)
        // Missed, from node 2 (C) and node 0: a room broadcast, one to everyone, one to another
        // room (not for this client), a direct emit through the old socket object, a volatile
        // one (never kept).
        try nodes[2].io.to("news").emit("n", 4)
        try nodes[2].io.emit("n", 5)
        try nodes[2].io.to("elsewhere").emit("n", 99)
        try first.emit("n", 6)
        try nodes[2].io.volatile.emit("n", 98)
        // Back through the proxy to node 1 (B); a packet sent before the CONNECT answer waits
        // for the session's lookup and reaches the recovered socket.
        proxy.target.withLock { $0 = nodes[1].io.port }
        client = try await SocketIORecoveringClient(port: proxy.port)
        let reconnect = try await client.join(auth: auth(pid, lastOffset), then: [#"4250["state"]"#])
        XCTAssertEqual(reconnect["sid"] as? String, sid, "the same sid: \(reconnect)")
        XCTAssertEqual(reconnect["pid"] as? String, pid)
        XCTAssertNil(reconnect["offset"], "a recovered client keeps its own offset")
        // The replay and the held packet's ack: the ack may come before the replay when the
        // node fills the replay from Redis (Protocol.md 11.1: acknowledgements are written at once).
        var missed: [Int] = []
        var held: String?
        var volatileSeen = false
        while missed.count < 3 || held == nil {
            let text = try await client.next()
            if text.hasPrefix("4350[") {
                XCTAssertNil(held, "one ack: \(text)")
                held = text
                continue
            }
            XCTAssertTrue(text.hasPrefix("42["), text)
            let array = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.dropFirst(2).utf8)) as? [Any], text)
            if array.count == 2, (array[1] as? NSNumber)?.intValue == 98 {
                // Redis hands node 2's volatile emit to each node in its own time: it can reach
                // node 1 after the client came back and then arrives live, without an offset.
                XCTAssertFalse(volatileSeen, "the volatile event at most once: \(text)")
                volatileSeen = true
                continue
            }
            let number = try XCTUnwrap((array.count == 3 ? array[1] : nil) as? NSNumber, text).intValue
            let offset = try XCTUnwrap(array.last as? String, text)
            missed.append(number)
            XCTAssertTrue(Self.isAfter(offset, lastOffset), "\(offset) after \(lastOffset): replayed in stream order")
            lastOffset = offset
        }
        XCTAssertEqual(missed.sorted(), [4, 5, 6], "each missed event once")
        XCTAssertTrue(held?.contains(#""recovered":true"#) == true, held ?? "")
        // Its room is kept: a room broadcast from node 0 (A) reaches it, after the replay.
        try nodes[0].io.to("news").emit("n", 7)
        var liveArray = try await client.nextEvent("n")
        if !volatileSeen, liveArray.count == 2, (liveArray[1] as? NSNumber)?.intValue == 98 {
            liveArray = try await client.nextEvent("n")
        }
        let live = (number: try XCTUnwrap(liveArray.count == 3 ? (liveArray[1] as? NSNumber)?.intValue : nil, "\(liveArray)"),
                    offset: try XCTUnwrap(liveArray.last as? String, "\(liveArray)"))
        XCTAssertEqual(live.number, 7, "live events follow the replay, nothing else between")
        XCTAssertTrue(Self.isAfter(live.offset, lastOffset))
        let second = try await nodes[1].sockets.socket(id: sid)
        XCTAssertTrue(second.recovered)
        XCTAssertEqual(second.rooms, [sid, "news"])
        XCTAssertEqual(second.data["score"] as? Int, 7)
        XCTAssertEqual(second.data["name"] as? String, "ada")
        let state = try await state(of: client, id: 2)
        XCTAssertEqual(state, SocketState(id: sid, rooms: [sid, "news"].sorted(), recovered: true))
        // The session is node 1's now: the pid presented to node 2 finds nothing in Redis.
        let elsewhere = try await SocketIORecoveringClient(port: nodes[2].io.port)
        let fresh = try await elsewhere.join(auth: auth(pid, live.offset))
        XCTAssertNotEqual(fresh["sid"] as? String, sid)
        XCTAssertNotEqual(fresh["pid"] as? String, pid, "a new session")
        XCTAssertTrue(second.connected, "the recovered socket stays")
    }

    func test_socketIORecovery_forgedPidOnAnotherNode_getsFreshSessionNotRecovered() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis, count: 2)
        let forged = "AAAAAAAAAAAAAAAAAAAAAA"
        let client = try await SocketIORecoveringClient(port: nodes[1].io.port)
        // A second CONNECT while the first is looked up (0.7 s for a pid Redis lacks) is ignored.
        let connect = try await client.join(auth: auth(forged, "0-0"), then: ["40"])
        let sid = try XCTUnwrap(connect["sid"] as? String, "\(connect)")
        XCTAssertNotEqual(connect["pid"] as? String, forged, "a new pid")
        XCTAssertNotNil(connect["pid"] as? String)
        let offset = try XCTUnwrap(connect["offset"] as? String, "a new session starts at the stream's last id")
        let socket = try await nodes[1].sockets.socket(id: sid)
        XCTAssertFalse(socket.recovered)
        let second = await client.nothing(within: .seconds(1))
        XCTAssertNil(second, "one CONNECT answer")
        XCTAssertTrue(nodes[1].sockets.pending.isEmpty, "one socket: \(nodes[1].sockets.pending.map(\.id))")
        // Served as a new session: live events with offsets.
        try nodes[0].io.emit("n", 1)
        let event = try await client.nextNumbered()
        XCTAssertEqual(event.number, 1)
        XCTAssertTrue(Self.isAfter(event.offset, offset), "\(event.offset) after \(offset)")
    }

    func test_socketIORecovery_packetsBeyondTheBoundWhileTheSessionIsLookedUp_closeTheConnection() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis, count: 1)
        // A pid Redis does not have is asked for again for 0.7 s: time to send them all.
        let client = try await SocketIORecoveringClient(port: nodes[0].io.port)
        _ = try await client.next("0{")
        client.socket.send(text: "40" + auth("AAAAAAAAAAAAAAAAAAAAAA", "0-0"))
        // 64 kept at most (Protocol.md 11.1): one more.
        for number in 0...64 { client.socket.send(text: #"42["n",\#(number)]"#) }
        try await client.closed()
        // Others are served.
        let other = try await SocketIORecoveringClient(port: nodes[0].io.port)
        let connect = try await other.join()
        XCTAssertNotNil(connect["sid"] as? String)
    }

    func test_socketIORecovery_redisKilled_freshSession_serversKeepServing() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis, count: 2)
        let proxy = try CuttingProxy(target: nodes[0].io.port)
        defer { proxy.stop() }
        let (_, sid, pid, offset) = try await connectSocketIO(proxy)
        _ = try await nodes[0].sockets.socket(id: sid)
        proxy.cut()
        try await expectDisconnect(nodes[0], sid)
        redis.stop()
        proxy.target.withLock { $0 = nodes[1].io.port }
        let client = try await SocketIORecoveringClient(port: proxy.port)
        let connect = try await client.join(auth: auth(pid, offset))
        let freshSID = try XCTUnwrap(connect["sid"] as? String, "\(connect)")
        XCTAssertNotEqual(freshSID, sid, "recovery unavailable: a fresh session")
        XCTAssertNotEqual(connect["pid"] as? String, pid)
        let socket = try await nodes[1].sockets.socket(id: freshSID)
        XCTAssertFalse(socket.recovered)
        // The node keeps serving its clients: events without an offset (not kept).
        try nodes[1].io.emit("n", 1)
        let event = try await client.nextEvent("n", count: 2)   // the name and the number: no offset
        XCTAssertEqual((event.last as? NSNumber)?.intValue, 1)
        let state = try await state(of: client, id: 1)
        XCTAssertEqual(state, SocketState(id: freshSID, rooms: [freshSID], recovered: false))
    }

    func test_socketIORecovery_missedSeveralArgumentEvents_keepTheirArguments_fromNodeLogAndFromStream() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis)
        let proxy = try CuttingProxy(target: nodes[0].io.port)
        defer { proxy.stop() }
        var (client, sid, pid, offset) = try await connectSocketIO(proxy)
        _ = try await nodes[0].sockets.socket(id: sid)
        _ = try await client.call("join", #""news""#, id: 1)
        proxy.cut()
        try await expectDisconnect(nodes[0], sid)
        try nodes[2].io.to("news").emit("pair", EventArguments([try RawJSON(json: "3"), try RawJSON(json: #""x""#)]))
        // Node 1's own log has it (it reads the stream): replayed from there.
        proxy.target.withLock { $0 = nodes[1].io.port }
        client = try await SocketIORecoveringClient(port: proxy.port)
        var reconnect = try await client.join(auth: auth(pid, offset))
        XCTAssertEqual(reconnect["sid"] as? String, sid, "\(reconnect)")
        var pair = try await client.nextEvent("pair", count: 4)   // the name, two arguments, the offset
        XCTAssertEqual((pair[1] as? NSNumber)?.intValue, 3)
        XCTAssertEqual(pair[2] as? String, "x")
        offset = try XCTUnwrap(pair.last as? String)
        XCTAssertTrue(Self.isAfter(offset, "0-0"))
        let second = try await nodes[1].sockets.socket(id: sid)
        proxy.cut()
        try await expectDisconnect(nodes[1], sid)
        try nodes[2].io.to("news").emit("pair", EventArguments([try RawJSON(json: #"{"a":1}"#), try RawJSON(json: "[1,2]")]))
        try second.emit("trio", EventArguments([try RawJSON(json: "1"), try RawJSON(json: "2"), try RawJSON(json: "3")]))
        // A node started after the events: its log does not reach back, they come from the stream.
        let late = try startNode(redis)
        proxy.target.withLock { $0 = late.io.port }
        client = try await SocketIORecoveringClient(port: proxy.port)
        reconnect = try await client.join(auth: auth(pid, offset))
        XCTAssertEqual(reconnect["sid"] as? String, sid, "\(reconnect)")
        // Appended by two nodes: their order in the stream is Redis's.
        var replayed: [String: [Any]] = [:]
        for _ in 0..<2 {
            let event = try await client.nextEvent()
            replayed[try XCTUnwrap(event.first as? String)] = event
        }
        pair = try XCTUnwrap(replayed["pair"].flatMap { $0.count == 4 ? $0 : nil }, "the name, two arguments, the offset: \(replayed)")
        XCTAssertEqual((pair[1] as? [String: Any])?["a"] as? Int, 1, "\(pair)")
        XCTAssertEqual((pair[2] as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue }, [1, 2], "\(pair)")
        XCTAssertTrue(Self.isAfter(try XCTUnwrap(pair.last as? String), offset))
        // A direct emit: the name, three arguments, the offset.
        let trio = try XCTUnwrap(replayed["trio"].flatMap { $0.count == 5 ? $0 : nil }, "\(replayed)")
        XCTAssertEqual(trio.dropFirst().dropLast().compactMap { ($0 as? NSNumber)?.intValue }, [1, 2, 3])
        XCTAssertTrue(Self.isAfter(try XCTUnwrap(trio.last as? String), offset))
    }

    func test_socketIORecovery_envelopeAndSocketIOClientsInOneRoomOnDifferentNodes_shareOffsets() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis)
        let proxy = try CuttingProxy(target: nodes[0].io.port)
        defer { proxy.stop() }
        var (client, sid, pid, _) = try await connectSocketIO(proxy)
        _ = try await nodes[0].sockets.socket(id: sid)
        _ = try await client.call("join", #""news""#, id: 1)
        let page = try await JSONPage.open("ws://127.0.0.1:\(nodes[1].io.port)/parley")
        _ = try await page.next(event: "connect")
        page.send(#"{"event":"join","data":"news","id":1}"#)
        _ = try await page.next()
        try nodes[2].io.to("news").emit("pair", EventArguments([try RawJSON(json: "3"), try RawJSON(json: #""x""#)]))
        let pageEvent = try await page.next(event: "pair")
        XCTAssertEqual((pageEvent["data"] as? [any Sendable])?.count, 2, "an envelope client gets the arguments as an array")
        let pair = try await client.nextEvent("pair", count: 4)   // the name, two arguments, the offset
        XCTAssertEqual(pair.last as? String, pageEvent["offset"] as? String, "one offset on every node, for both dialects")
        proxy.cut()
        try await expectDisconnect(nodes[0], sid)
        try nodes[2].io.to("news").emit("n", 4)
        let pageMissed = try await page.next(event: "n")
        XCTAssertEqual(pageMissed.number, 4)
        // Back on the page's node: the same event, with the offset the page got.
        proxy.target.withLock { $0 = nodes[1].io.port }
        client = try await SocketIORecoveringClient(port: proxy.port)
        let reconnect = try await client.join(auth: auth(pid, try XCTUnwrap(pair.last as? String)))
        XCTAssertEqual(reconnect["sid"] as? String, sid, "\(reconnect)")
        let missed = try await client.nextNumbered()
        XCTAssertEqual(missed.number, 4)
        XCTAssertEqual(missed.offset, pageMissed["offset"] as? String)
        try nodes[1].io.to("news").emit("n", 5)
        let live = try await client.nextNumbered()
        let pageLive = try await page.next(event: "n")
        XCTAssertEqual(live.number, 5)
        XCTAssertEqual(pageLive.number, 5)
        XCTAssertEqual(live.offset, pageLive["offset"] as? String)
    }

    func test_socketIORecovery_nodeShutDown_itsClientRecoversOnAnotherNode() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis, count: 2)
        let proxy = try CuttingProxy(target: nodes[0].io.port)
        defer { proxy.stop() }
        var (client, sid, pid, _) = try await connectSocketIO(proxy)
        let first = try await nodes[0].sockets.socket(id: sid)
        first.data["score"] = 9
        _ = try await client.call("join", #""news""#, id: 1)
        try nodes[1].io.to("news").emit("n", 1)
        let event = try await client.nextNumbered()
        // Node 0 shuts down: its Socket.IO session is closed, its socket's session is in Redis.
        await nodes[0].io.close(gracePeriod: .milliseconds(200))
        try nodes[1].io.to("news").emit("n", 2)
        proxy.target.withLock { $0 = nodes[1].io.port }
        client = try await SocketIORecoveringClient(port: proxy.port)
        let reconnect = try await client.join(auth: auth(pid, event.offset))
        XCTAssertEqual(reconnect["sid"] as? String, sid, "\(reconnect)")
        let missed = try await client.nextNumbered()
        XCTAssertEqual(missed.number, 2)
        let second = try await nodes[1].sockets.socket(id: sid)
        XCTAssertEqual(second.rooms, [sid, "news"])
        XCTAssertEqual(second.data["score"] as? Int, 9)
    }

    func test_socketIOClient_cutEvery100msAndSentToTheNextNode_receivesEveryNumberOnceInOrder_sameSidAndRooms() async throws {
        let redis = try startRedis()
        let nodes = try startCluster(redis)
        try await rotateClientAcrossNodes(nodes, socketIO: true)
    }
}
