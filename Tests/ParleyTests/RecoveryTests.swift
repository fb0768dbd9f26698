import Foundation
import Parley
import ParleyProtocol
import ParleyTestSupport
import ParleyWebSocket
import Synchronization
import TestSupport
import XCTest

final class RecoveryTests: XCTestCase {
    /// A server with recovery (changed by `configure`) whose sockets join the room of their
    /// `join` event (acked) and count middleware runs.
    private func recoveryServer(port: Int = 0, _ configure: (inout Server.ConnectionStateRecovery) -> Void = { _ in })
        throws -> (Server, SocketRegistry, Locked<Int>) {
        let middlewareRuns = Locked(0)
        let io = try startServer { configuration in
            configuration.port = port
            var recovery = Server.ConnectionStateRecovery()
            configure(&recovery)
            configuration.connectionStateRecovery = recovery
        }
        io.use { handshake in
            middlewareRuns.withLock { $0 += 1 }
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
        return (io, registry, middlewareRuns)
    }

    /// Opens a page through `proxy` and awaits `connect`: its data and offset.
    private func connectPage(_ proxy: CuttingProxy, query: String = "") async throws -> (JSONPage, [String: any Sendable], String?) {
        let page = try await JSONPage.open("ws://127.0.0.1:\(proxy.port)/parley" + (query.isEmpty ? "" : "?" + query))
        let connect = try await page.next(event: "connect")
        return (page, connect.data, connect["offset"] as? String)
    }

    func testRecovery_bareWebSocketPage_getsSameIDRoomsDataAndEveryMissedEventOnceInOrder() async throws {
        let (io, sockets, middlewareRuns) = try recoveryServer()
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let (page, connect, firstOffset) = try await connectPage(proxy)
        let id = try XCTUnwrap(connect["id"] as? String)
        let token = try XCTUnwrap(connect["token"] as? String)
        XCTAssertNotEqual(token, id)
        XCTAssertEqual(connect["recovered"] as? Bool, false)
        XCTAssertNil(connect["reason"], "no recovery was asked for")
        XCTAssertNotNil(firstOffset)
        let first = try await sockets.socket(id: id)
        XCTAssertFalse(first.recovered)
        first.data["score"] = 7
        page.send(#"{"event":"join","data":"news","id":1}"#)
        _ = try await page.next()
        var lastOffset = firstOffset
        for number in 1...3 {
            try io.to("news").emit("n", number)
            let event = try await page.next(event: "n")
            XCTAssertEqual(event.number, number)
            lastOffset = try XCTUnwrap(event["offset"] as? String)
        }
        XCTAssertEqual(proxy.cut(), 1)
        try await sockets.expectDisconnect(first)
        // Missed: a room broadcast, one to everyone, one to another room (not for this page),
        // and a direct emit through the old socket object.
        try io.to("news").emit("n", 4)
        try io.emit("n", 5)
        try io.to("elsewhere").emit("n", 99)
        try first.emit("n", 6)
        try io.volatile.emit("n", 98)   // volatile: never kept
        let query = "recoveryToken=\(token)&recoveryOffset=\(try XCTUnwrap(lastOffset))"
        let (again, reconnect, reconnectOffset) = try await connectPage(proxy, query: query)
        XCTAssertEqual(reconnect["id"] as? String, id)
        XCTAssertEqual(reconnect["token"] as? String, token)
        XCTAssertEqual(reconnect["recovered"] as? Bool, true)
        XCTAssertNil(reconnectOffset, "a recovered connect keeps the client's offset")
        for number in 4...6 {
            let received = try await again.next(event: "n")
            XCTAssertEqual(received.number, number)
        }
        try io.to("news").emit("n", 7)
        let received = try await again.next(event: "n")
        XCTAssertEqual(received.number, 7, "live events follow the replay, nothing else between")
        let second = try await sockets.socket(id: id)
        XCTAssertTrue(second.recovered)
        XCTAssertEqual(second.rooms, [id, "news"])
        XCTAssertEqual(second.data["score"] as? Int, 7)
        XCTAssertEqual(second.data["user"] as? String, "ada")
        XCTAssertEqual(middlewareRuns.value, 1, "skipMiddlewares: the recovered client skipped them")
        _ = page
    }

    func testRecovery_withoutSkippingMiddlewares_runsThemWithTheRestoredData() async throws {
        let seen = Locked<[String]>([])
        let (io, sockets, middlewareRuns) = try recoveryServer { $0.skipMiddlewares = false }
        io.use { handshake in seen.withLock { $0.append(handshake.data["user"] as? String ?? "none") } }
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let (_, connect, offset) = try await connectPage(proxy)
        let socket = try await sockets.socket(id: try XCTUnwrap(connect["id"] as? String))
        socket.data["user"] = "grace"
        proxy.cut()
        try await sockets.expectDisconnect(socket)
        let query = "recoveryToken=\(try XCTUnwrap(connect["token"] as? String))&recoveryOffset=\(try XCTUnwrap(offset))"
        let (_, reconnect, _) = try await connectPage(proxy, query: query)
        XCTAssertEqual(reconnect["recovered"] as? Bool, true)
        XCTAssertEqual(middlewareRuns.value, 2)
        XCTAssertEqual(seen.value, ["ada", "grace"])
    }

    func testRecovery_refusedWithReason_forForgedTokenOtherNamespaceAndDroppedPackets() async throws {
        let (io, sockets, _) = try recoveryServer { $0.maxPackets = 3 }
        _ = io.of("/other")
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        // Forged.
        let (_, forged, _) = try await connectPage(proxy, query: "recoveryToken=AAAAAAAAAAAAAAAAAAAAAA&recoveryOffset=0")
        XCTAssertEqual(forged["recovered"] as? Bool, false)
        XCTAssertEqual(forged["reason"] as? String, "unknown session")
        // A token of `/` presented to `/other`.
        let (_, connect, offset) = try await connectPage(proxy)
        let id = try XCTUnwrap(connect["id"] as? String)
        let socket = try await sockets.socket(id: id)
        proxy.cut()
        try await sockets.expectDisconnect(socket)
        let token = try XCTUnwrap(connect["token"] as? String)
        let (_, other, _) = try await connectPage(proxy, query: "nsp=/other&recoveryToken=\(token)&recoveryOffset=\(try XCTUnwrap(offset))")
        XCTAssertEqual(other["recovered"] as? Bool, false)
        XCTAssertEqual(other["reason"] as? String, "unknown session")
        // Back in `/`, after more events than are kept: a fresh session, and no replay at all.
        for number in 1...5 { try io.emit("n", number) }
        let (page, dropped, droppedOffset) = try await connectPage(proxy, query: "recoveryToken=\(token)&recoveryOffset=\(try XCTUnwrap(offset))")
        XCTAssertEqual(dropped["recovered"] as? Bool, false)
        XCTAssertEqual(dropped["reason"] as? String, "packets no longer kept")
        XCTAssertNotEqual(dropped["id"] as? String, id)
        XCTAssertNotEqual(dropped["token"] as? String, token)
        XCTAssertNotNil(droppedOffset)
        try io.emit("n", 6)
        let received = try await page.next(event: "n")
        XCTAssertEqual(received.number, 6, "the first event after a refused recovery is a live one")
    }

    func testRecovery_refusedWithReason_afterTheWindow() async throws {
        let window: Duration = .milliseconds(300)
        let (io, sockets, _) = try recoveryServer { $0.maxDisconnectionDuration = window }
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let (_, connect, offset) = try await connectPage(proxy)
        let socket = try await sockets.socket(id: try XCTUnwrap(connect["id"] as? String))
        proxy.cut()
        try await sockets.expectDisconnect(socket)
        try await Task.sleep(for: window + .milliseconds(100))   // time itself is under test
        let query = "recoveryToken=\(try XCTUnwrap(connect["token"] as? String))&recoveryOffset=\(try XCTUnwrap(offset))"
        let (_, late, _) = try await connectPage(proxy, query: query)
        XCTAssertEqual(late["recovered"] as? Bool, false)
        XCTAssertEqual(late["reason"] as? String, "session expired")
    }

    func testRecovery_refusedWithReason_afterServerRestart() async throws {
        let (io, sockets, _) = try recoveryServer()
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let (_, connect, offset) = try await connectPage(proxy)
        _ = try await sockets.socket(id: try XCTUnwrap(connect["id"] as? String))
        await io.close(gracePeriod: .milliseconds(200))
        let (restarted, _, _) = try recoveryServer()
        proxy.target.withLock { $0 = restarted.port }
        let query = "recoveryToken=\(try XCTUnwrap(connect["token"] as? String))&recoveryOffset=\(try XCTUnwrap(offset))"
        let (_, fresh, _) = try await connectPage(proxy, query: query)
        XCTAssertEqual(fresh["recovered"] as? Bool, false)
        XCTAssertEqual(fresh["reason"] as? String, "unknown session")
        XCTAssertNotEqual(fresh["id"] as? String, connect["id"] as? String)
    }

    func testRecovery_newerConnectionWithTheToken_replacesOneNotYetSeenLost() async throws {
        let (io, sockets, _) = try recoveryServer()
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let (old, connect, offset) = try await connectPage(proxy)
        let id = try XCTUnwrap(connect["id"] as? String)
        let first = try await sockets.socket(id: id)
        let query = "recoveryToken=\(try XCTUnwrap(connect["token"] as? String))&recoveryOffset=\(try XCTUnwrap(offset))"
        let (_, again, _) = try await connectPage(proxy, query: query)
        XCTAssertEqual(again["recovered"] as? Bool, true)
        XCTAssertEqual(again["id"] as? String, id)
        XCTAssertFalse(first.connected)
        while let message = await old.nothing(within: eventTimeout) { XCTAssertNotEqual(message["event"] as? String, "n") }
        XCTAssertEqual(io.main.clientCount, 1)
    }

    func testDeduplication_resentEventWithSameID_runsHandlerOnceAndIsAnsweredAgain() async throws {
        let (io, _, _) = try recoveryServer()
        let runs = Atomic<Int>(0)
        io.onConnection { socket in
            socket.on("add") { (numbers: [Int], ack: Ack) in
                runs.add(1, ordering: .relaxed)
                ack(numbers.reduce(0, +))
            }
        }
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let (page, _, _) = try await connectPage(proxy, query: "dedupeKey=k1")
        page.send(#"{"event":"add","data":[1,2],"id":5}"#)
        let answer5 = try await page.next()
        XCTAssertEqual(answer5["ack"] as? Double, 5)
        proxy.cut()
        let (again, _, _) = try await connectPage(proxy, query: "dedupeKey=k1")
        again.send(#"{"event":"add","data":[1,2],"id":5}"#)
        let answer = try await again.next()
        XCTAssertEqual(answer["ack"] as? Double, 5)
        XCTAssertEqual(answer["data"] as? Double, 3)
        again.send(#"{"event":"add","data":[2,2],"id":6}"#)
        let answer4 = try await again.next()
        XCTAssertEqual(answer4["data"] as? Double, 4)
        XCTAssertEqual(runs.load(ordering: .relaxed), 2, "id 5 ran once, id 6 once")
        // Another client's ids are its own.
        let (other, _, _) = try await connectPage(proxy, query: "dedupeKey=k2")
        other.send(#"{"event":"add","data":[1,1],"id":5}"#)
        let answer2 = try await other.next()
        XCTAssertEqual(answer2["data"] as? Double, 2)
        XCTAssertEqual(runs.load(ordering: .relaxed), 3)
    }
}

private let disconnectMailboxes = Mutex<[ObjectIdentifier: Mailbox<String>]>([:])

extension SocketRegistry {
    /// Ids of the sockets that disconnected (posted by the test server's handler).
    var disconnects: Mailbox<String> {
        disconnectMailboxes.withLock { mailboxes in
            if let mailbox = mailboxes[ObjectIdentifier(self)] { return mailbox }
            let mailbox = Mailbox<String>()
            mailboxes[ObjectIdentifier(self)] = mailbox
            return mailbox
        }
    }

    /// Awaits the server noticing that `socket` is gone.
    func expectDisconnect(_ socket: Socket, file: StaticString = #filePath, line: UInt = #line) async throws {
        let id = socket.id
        _ = try await disconnects.expect("the server to notice that \(id) is gone", file: file, line: line) { $0 == id }
    }
}
