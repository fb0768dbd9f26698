import Parley
import ParleyProtocol
import TestSupport
import XCTest
@testable import ParleyClient

/// Events both ways, typed and raw, buffering and handler management.
final class ClientEmitTests: XCTestCase {
    func test_emit_reachesServerHandler_withTypedPayload() async throws {
        let io = try startServer()
        let chats = Mailbox<Chat>()
        io.onConnection { socket in socket.on("chat") { (chat: Chat) in chats.put(chat) } }
        let (client, _) = try await connectClient(io)
        XCTAssertEqual(try client.emit("chat", Chat(text: "hi", count: 1)), .sent)
        let received = try await chats.expect("the chat")
        XCTAssertEqual(received, Chat(text: "hi", count: 1))
    }

    func test_on_receivesServerEvents_typedRawAndWithoutData() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = makeClient(io.url)
        let chats = Mailbox<Chat>()
        let raws = Mailbox<String>()
        let ticks = Mailbox<Int>()
        client.on("chat") { (chat: Chat) in chats.put(chat) }
        client.on("chat") { raw in raws.put(raw.description) }
        client.on("tick") { ticks.put(1) }
        client.connect()
        let socket = try await server.sockets.expect("a socket")
        try socket.emit("chat", Chat(text: "from server", count: 7))
        try socket.emit("tick")
        let chat = try await chats.expect("the typed chat")
        XCTAssertEqual(chat, Chat(text: "from server", count: 7))
        let raw = try await raws.expect("the raw chat")
        XCTAssertEqual(raw, #"{"count":7,"text":"from server"}"#)
        _ = try await ticks.expect("the tick")
    }

    func test_on_skipsHandler_whenDataDoesNotDecode() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = makeClient(io.url)
        let chats = Mailbox<Chat>()
        client.on("chat") { (chat: Chat) in chats.put(chat) }
        client.connect()
        let socket = try await server.sockets.expect("a socket")
        try socket.emit("chat", "not a chat")
        try socket.emit("chat", Chat(text: "valid", count: 2))
        let first = try await chats.expect("the valid chat")
        XCTAssertEqual(first.text, "valid")
    }

    func test_handlers_runInArrivalOrder_forManyServerEvents() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = makeClient(io.url)
        let numbers = Mailbox<Int>()
        client.on("n") { (n: Int) in numbers.put(n) }
        client.connect()
        let socket = try await server.sockets.expect("a socket")
        for n in 0..<500 { try socket.emit("n", n) }
        var received: [Int] = []
        for _ in 0..<500 { received.append(try await numbers.expect("number \(received.count)")) }
        XCTAssertEqual(received, Array(0..<500))
    }

    func test_emit_keepsPerThreadOrder_whenManyTasksEmitAtOnce() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = try await connectClient(io)
        let tasks = 8
        let perTask = 100
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    for n in 0..<perTask { _ = try? client.emit("n", [task, n]) }
                }
            }
        }
        let received = try await server.take(tasks * perTask, of: "n")
        for task in 0..<tasks {
            let mine = received.filter { $0.hasPrefix("[\(task),") }
            XCTAssertEqual(mine, (0..<perTask).map { "[\(task),\($0)]" }, "task \(task)")
        }
    }

    func test_once_runsOnlyForFirstEvent_andOffRemovesHandlers() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = makeClient(io.url)
        let seen = Mailbox<String>()
        client.once("e") { (n: Int) in seen.put("once \(n)") }
        let removed = client.on("e") { (n: Int) in seen.put("removed \(n)") }
        client.on("e") { (n: Int) in seen.put("kept \(n)") }
        client.off("e", removed)
        client.on("gone") { (_: Int) in seen.put("gone") }
        client.off("gone")
        client.on("fence") { (_: Int) in seen.put("fence") }
        client.connect()
        let socket = try await server.sockets.expect("a socket")
        for n in 1...2 { try socket.emit("e", n) }
        try socket.emit("gone", 0)
        try socket.emit("fence", 0)
        var order: [String] = []
        for _ in 0..<4 { order.append(try await seen.expect("a handler call")) }
        XCTAssertEqual(order, ["once 1", "kept 1", "kept 2", "fence"])
    }

    func test_onAny_seesEveryApplicationEvent_beforeItsHandlers() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = makeClient(io.url)
        let seen = Mailbox<String>()
        client.onAny { name, data in seen.put("any \(name) \(data?.description ?? "-")") }
        client.on("a") { (_: RawJSON) in seen.put("a") }
        client.connect()
        let socket = try await server.sockets.expect("a socket")
        try socket.emit("a", 1)
        try socket.emit("b")
        var order: [String] = []
        for _ in 0..<3 { order.append(try await seen.expect("a handler call")) }
        XCTAssertEqual(order, ["any a 1", "a", "any b -"])
    }

    func test_events_deliversConnectionAndApplicationEvents_asAsyncSequence() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = makeClient(io.url)
        let events = client.events
        client.connect()
        let socket = try await server.sockets.expect("a socket")
        try socket.emit("hello", "world")
        var iterator = events.makeAsyncIterator()
        let first = await iterator.next()
        XCTAssertEqual(first, .connect)
        guard case .event("hello", let data, let ack) = await iterator.next() else { return XCTFail("expected hello") }
        XCTAssertEqual(data?.description, #""world""#)
        XCTAssertFalse(ack.isRequested)
        socket.disconnect()
        let last = await iterator.next()
        XCTAssertEqual(last, .disconnect(reason: .ioServerDisconnect))
    }

    func test_emit_refusesReservedNames() throws {
        let (client, _) = makeClient("ws://127.0.0.1:1/parley")
        for name in ReservedEvents.all {
            XCTAssertThrowsError(try client.emit(name, 1)) { XCTAssertEqual($0 as? ClientError, .reservedEvent(name)) }
        }
    }

    func test_emit_buffersWhileDisconnected_andFlushesInOrderOnConnect() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, log) = makeClient(io.url)
        for n in 0..<5 { XCTAssertEqual(try client.emit("n", n), .buffered) }
        XCTAssertEqual(try client.volatile.emit("cursor", 1), .dropped)
        client.connect()
        try await log.expect(.connect)
        try client.emit("n", 5)
        try client.emit("fence")
        let received = try await server.take(6, of: "n")
        XCTAssertEqual(received, (0..<6).map(String.init))
        _ = try await server.received.expect("the fence") { $0.0 == "fence" }
        XCTAssertTrue(server.received.pending.isEmpty, "the volatile emit was never sent: \(server.received.pending.map(\.0))")
    }

    func test_emit_dropsOldestAndReports_whenOfflineBufferIsFull() async throws {
        let io = try startServer()
        installHandlers(on: io.main)
        let server = ServerSide(io.main)
        let (client, log) = makeClient(io.url) { $0.bufferLimit = 3 }
        let dropped = Task { try await client.emitWithAck("echo", "first", as: String.self) }
        // Wait until the ack emit is buffered, then overflow the buffer by two.
        try await waitUntil("the ack emit is buffered") { client.state.withLock { $0.outbox.buffered.count } == 1 }
        XCTAssertEqual(try client.emit("n", 1), .buffered)
        XCTAssertEqual(try client.emit("n", 2), .buffered)
        XCTAssertEqual(try client.emit("n", 3), .bufferedDroppingOldest(1))
        XCTAssertEqual(try client.emit("n", 4), .bufferedDroppingOldest(1))
        do {
            _ = try await dropped.value
            XCTFail("the dropped emit's ack must fail")
        } catch {
            XCTAssertEqual(error as? ClientError, .droppedFromBuffer(event: "echo"))
        }
        client.connect()
        try await log.expect(.connect)
        let received = try await server.take(3, of: "n")
        XCTAssertEqual(received, ["2", "3", "4"])
    }

    func test_volatileEmit_isSent_whenConnected() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = try await connectClient(io)
        XCTAssertEqual(try client.volatile.emit("cursor", [3, 4]), .sent)
        let received = try await server.take(1, of: "cursor")
        XCTAssertEqual(received, ["[3,4]"])
    }
}
