import ParleyProtocol
import TestSupport
import XCTest
@testable import Parley

/// Events both ways: typed and raw handlers, `once`/`off`/`onAny`, absent data.
final class SocketEventTests: XCTestCase {
    // MARK: Client to server

    func test_on_decodesTypedData_whenClientEmitsCodableStruct() async throws {
        let io = try startServer()
        let received = Mailbox<Chat>()
        io.onConnection { socket in socket.on("chat") { (chat: Chat) in received.put(chat) } }
        let client = try await connectClient(io)
        client.emit("chat", #"{"text":"héllo ✓","count":3}"#)
        let chat = try await received.expect("the chat handler")
        XCTAssertEqual(chat, Chat(text: "héllo ✓", count: 3))
    }

    func test_onRawJSON_receivesDataBytesExactlyAsSent_withOddWhitespace() async throws {
        let io = try startServer()
        let received = Mailbox<RawJSON>()
        io.onConnection { socket in socket.on("raw") { (data: RawJSON) in received.put(data) } }
        let client = try await connectClient(io)
        let data = "{ \"b\" :\t[1 ,  2.50,\n\"x\\u0041\"] ,\"a\":  {}  }"
        client.send(raw: "{ \"event\" : \"raw\" , \"data\" :   \(data)   }")
        let raw = try await received.expect("the raw handler")
        XCTAssertEqual(raw.description, data)
    }

    func test_broadcast_relaysRawDataBytesUnchanged_toOtherClients() async throws {
        let io = try startServer()
        io.onConnection { socket in
            socket.on("relay") { (data: RawJSON, ack: Ack) in
                try? socket.broadcast.emit("relay", data)
                ack()
            }
        }
        let sender = try await connectClient(io)
        let receiver = try await connectClient(io)
        let data = "[ 1e3 , -0.0,\"\\ud83d\\ude80\" , {\"z\":null ,\"a\" : true} ]"
        sender.emit("relay", data, id: 1)
        let ack = try await sender.nextAck(id: 1)
        XCTAssertEqual(ack, .ack(id: 1, data: nil))
        let relayed = try await receiver.nextStrict(event: "relay")
        XCTAssertEqual(relayed.json, data)
        XCTAssertNil(relayed.id)
    }

    func test_on_callsEveryHandlerOfEvent_inRegistrationOrder() async throws {
        let io = try startServer()
        let calls = Mailbox<String>()
        io.onConnection { socket in
            socket.on("tick") { (n: Int) in calls.put("first \(n)") }
            socket.on("tick") { (data: RawJSON) in calls.put("second \(data)") }
            socket.on("tick") { calls.put("third") }
        }
        let client = try await connectClient(io)
        client.emit("tick", "7")
        let first = try await calls.expect("first handler")
        let second = try await calls.expect("second handler")
        let third = try await calls.expect("third handler")
        XCTAssertEqual([first, second, third], ["first 7", "second 7", "third"])
    }

    // MARK: Server to client

    func test_emit_sendsEncodedStruct_toClient() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        try socket.emit("chat", Chat(text: "hi / there", count: 2))
        let event = try await client.nextStrict(event: "chat")
        XCTAssertEqual(event.json, #"{"count":2,"text":"hi / there"}"#)
        XCTAssertEqual(try event.decode(Chat.self), Chat(text: "hi / there", count: 2))
        XCTAssertNil(event.id)
    }

    func test_emit_sendsRawJSONVerbatim_andScalars() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        try socket.emit("raw", try RawJSON(json: " [1,  {\"a\" : 2}] "))
        try socket.emit("number", 42)
        try socket.emit("text", "quote \" and \\ and \n")
        let raw = try await client.nextStrict(event: "raw")
        let number = try await client.nextStrict(event: "number")
        let text = try await client.nextStrict(event: "text")
        XCTAssertEqual(raw.json, "[1,  {\"a\" : 2}]")
        XCTAssertEqual(number.json, "42")
        XCTAssertEqual(try text.decode(String.self), "quote \" and \\ and \n")
    }

    func test_emit_withoutData_sendsEnvelopeWithoutDataKey() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        try socket.emit("bare")
        let bare = try await client.next()
        XCTAssertEqual(bare, .event(name: "bare", data: nil, id: nil))
    }

    func test_emit_throwsReservedEvent_forProtocolEventNames() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        for name in ReservedEvents.all {
            XCTAssertThrowsError(try socket.emit(name, "x")) { XCTAssertEqual($0 as? ParleyError, .reservedEvent(name)) }
            XCTAssertThrowsError(try io.emit(name)) { XCTAssertEqual($0 as? ParleyError, .reservedEvent(name)) }
            XCTAssertThrowsError(try socket.broadcast.emit(name, 1)) { XCTAssertEqual($0 as? ParleyError, .reservedEvent(name)) }
        }
        try socket.emit("fence")
        try await client.expectEvents(["fence"])
    }

    func test_emit_throwsEncodingFailed_forValueJSONCannotHold() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        XCTAssertThrowsError(try socket.emit("nan", Double.nan)) { error in
            guard case .encodingFailed = error as? ParleyError else { return XCTFail("got \(error)") }
        }
        XCTAssertThrowsError(try io.emit("nan", [Double.infinity])) { error in
            guard case .encodingFailed = error as? ParleyError else { return XCTFail("got \(error)") }
        }
        try socket.emit("fence")
        try await client.expectEvents(["fence"])
    }

    // MARK: once, off, onAny

    func test_once_handlesOnlyFirstEvent() async throws {
        let io = try startServer()
        let calls = Mailbox<String>()
        io.onConnection { socket in
            socket.once("ping") { (n: Int) in calls.put("once \(n)") }
            socket.on("fence") { calls.put("fence") }
        }
        let client = try await connectClient(io)
        client.emit("ping", "1")
        client.emit("ping", "2")
        client.emit("fence")
        let first = try await calls.expect("the once handler")
        let second = try await calls.expect("the fence handler")
        XCTAssertEqual([first, second], ["once 1", "fence"])
    }

    func test_off_removesOneHandlerById_orAllHandlersOfEvent() async throws {
        let io = try startServer()
        let calls = Mailbox<String>()
        io.onConnection { socket in
            let a = socket.on("x") { calls.put("a") }
            socket.on("x") { calls.put("b") }
            socket.on("y") { calls.put("y") }
            socket.on("offOne") { socket.off("x", a) }
            socket.on("offAll") {
                socket.off("x")
                socket.off("y")
            }
            socket.on("fence") { calls.put("fence") }
        }
        let client = try await connectClient(io)
        client.emit("x")
        client.emit("offOne")
        client.emit("x")
        client.emit("y")
        client.emit("offAll")
        client.emit("x")
        client.emit("y")
        client.emit("fence")
        var seen: [String] = []
        while seen.last != "fence" { seen.append(try await calls.expect("handler calls")) }
        XCTAssertEqual(seen, ["a", "b", "b", "y", "fence"])
    }

    func test_onAny_seesEveryEventBeforeItsHandlers_includingUnhandledOnes() async throws {
        let io = try startServer()
        let calls = Mailbox<String>()
        io.onConnection { socket in
            socket.onAny { name, data in calls.put("any \(name) \(data?.description ?? "nil")") }
            socket.on("handled") { (n: Int) in calls.put("handled \(n)") }
        }
        let client = try await connectClient(io)
        client.emit("handled", "1")
        client.emit("unhandled", #"{"k": [true]}"#)
        client.emit("bare")
        var seen: [String] = []
        for _ in 0..<4 { seen.append(try await calls.expect("calls")) }
        XCTAssertEqual(seen, ["any handled 1", "handled 1", #"any unhandled {"k": [true]}"#, "any bare nil"])
    }

    // MARK: Absent data

    func test_on_seesNull_whenEventHasNoData() async throws {
        let io = try startServer()
        let calls = Mailbox<String>()
        io.onConnection { socket in
            socket.on("bare") { (value: String?) in calls.put("typed \(value ?? "nil")") }
            socket.on("bare") { (data: RawJSON) in calls.put("raw \(data) isNull \(data.isNull)") }
            socket.on("bare") { (data: RawJSON, ack: Ack) in ack(data) }
        }
        let client = try await connectClient(io)
        client.emit("bare", id: 4)
        let typed = try await calls.expect("typed handler")
        let raw = try await calls.expect("raw handler")
        XCTAssertEqual(typed, "typed nil")
        XCTAssertEqual(raw, "raw null isNull true")
        let ack = try await client.nextAck(id: 4)
        XCTAssertEqual(ack, try .ack(4, "null"))
    }

    func test_on_keepsExplicitNull_distinctFromAbsentData_inOnAny() async throws {
        let io = try startServer()
        let calls = Mailbox<String>()
        io.onConnection { socket in
            socket.onAny { name, data in calls.put("\(name) \(data?.description ?? "absent")") }
        }
        let client = try await connectClient(io)
        client.emit("absent")
        client.emit("null", "null")
        let absent = try await calls.expect("absent")
        let null = try await calls.expect("null")
        XCTAssertEqual([absent, null], ["absent absent", "null null"])
    }
}
