import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Protocol.md 8: what a client that does not speak the protocol gets, and that every other
/// client is unaffected.
final class SocketBadInputTests: XCTestCase {
    /// A server with `echo` and a typed `chat` handler, a misbehaving client and a healthy one.
    private func start() async throws -> (io: Server, bad: EnvelopeClient, healthy: EnvelopeClient, chats: Mailbox<Chat>) {
        let io = try startServer()
        installEcho(on: io.main)
        let chats = Mailbox<Chat>()
        io.onConnection { socket in
            socket.on("chat") { (chat: Chat, ack: Ack) in
                chats.put(chat)
                ack()
            }
        }
        let bad = try await connectClient(io)
        let healthy = try await connectClient(io)
        return (io, bad, healthy, chats)
    }

    /// Sends `text` and expects an `error` event whose message starts with `prefix`, then checks
    /// that both clients are still served.
    private func assertErrorEvent(for text: String, messagePrefix prefix: String,
                                  file: StaticString = #filePath, line: UInt = #line) async throws {
        let (_, bad, healthy, _) = try await start()
        bad.send(raw: text)
        let error = try await bad.nextStrict(event: "error", file: file, line: line)
        let message = try error.decode([String: String].self)["message"] ?? ""
        XCTAssertTrue(message.hasPrefix(prefix), "message: \(message)", file: file, line: line)
        XCTAssertNil(error.id, file: file, line: line)
        try await bad.assertServed(id: 1, file: file, line: line)
        try await healthy.assertServed(id: 1, file: file, line: line)
    }

    func test_invalidJSON_getsErrorEvent_andConnectionIsKept() async throws {
        try await assertErrorEvent(for: #"{"event":"chat","data":"#, messagePrefix: "invalid envelope: invalid JSON")
    }

    func test_jsonArray_getsErrorEvent_andConnectionIsKept() async throws {
        try await assertErrorEvent(for: #"["chat", {"text":"hi"}]"#, messagePrefix: "invalid envelope: the envelope is not a JSON object")
    }

    func test_nonStringEvent_getsErrorEvent_andConnectionIsKept() async throws {
        try await assertErrorEvent(for: #"{"event":42,"data":1}"#, messagePrefix: #"invalid envelope: "event" is not a string"#)
    }

    func test_objectWithoutEventOrAck_getsErrorEvent() async throws {
        try await assertErrorEvent(for: #"{"data":1}"#, messagePrefix: "invalid envelope: the envelope has neither")
    }

    func test_negativeId_getsErrorEvent() async throws {
        try await assertErrorEvent(for: #"{"event":"echo","data":1,"id":-1}"#, messagePrefix: #"invalid envelope: "id" or "ack" is not an integer"#)
    }

    func test_errorOnEvent_getsErrorEvent() async throws {
        try await assertErrorEvent(for: #"{"event":"echo","error":{"message":"x"}}"#, messagePrefix: "invalid envelope: conflicting keys")
    }

    func test_ackForUnknownId_isIgnored_andConnectionIsKept() async throws {
        let (_, bad, healthy, _) = try await start()
        bad.send(raw: #"{"ack":99,"data":"nobody asked"}"#)
        bad.send(raw: #"{"ack":98,"error":{"message":"nobody asked"}}"#)
        try await bad.assertServed(id: 1)
        XCTAssertEqual(bad.pending, [])
        try await healthy.assertServed(id: 1)
    }

    func test_reservedEvent_withId_getsErrorAck() async throws {
        let (_, bad, healthy, _) = try await start()
        bad.emit("connect", id: 4)
        bad.emit("disconnect", #"{"reason":"x"}"#, id: 5)
        let first = try await bad.next()
        let second = try await bad.next()
        XCTAssertEqual(first, .ackError(id: 4, message: "'connect' is a reserved event name"))
        XCTAssertEqual(second, .ackError(id: 5, message: "'disconnect' is a reserved event name"))
        try await bad.assertServed(id: 6)
        try await healthy.assertServed(id: 1)
    }

    func test_reservedEvent_withoutId_getsErrorEvent() async throws {
        let (io, bad, healthy, _) = try await start()
        let reached = Mailbox<String>()
        // `on("connect")` is refused at registration: `onAny` sees every event that reaches handlers.
        io.onConnection { socket in socket.onAny { name, _ in if name != "echo" { reached.put(name) } } }
        let third = try await connectClient(io)
        for client in [bad, third] {
            client.emit("connect")
            client.emit("error", #"{"message":"fake"}"#)
            let first = try await client.nextStrict(event: "error")
            let second = try await client.nextStrict(event: "error")
            XCTAssertEqual(first.json, #"{"message":"'connect' is a reserved event name"}"#)
            XCTAssertEqual(second.json, #"{"message":"'error' is a reserved event name"}"#)
            try await client.assertServed(id: 2)
        }
        XCTAssertEqual(reached.pending, [], "a handler of a reserved name must never run")
        try await healthy.assertServed(id: 1)
    }

    func test_typedDecodeFailure_withId_getsInvalidDataAck_andHandlerIsNotCalled() async throws {
        let (_, bad, healthy, chats) = try await start()
        bad.emit("chat", #"{"text":"no count"}"#, id: 1)
        bad.emit("chat", #""just a string""#, id: 2)
        let first = try await bad.nextAck(id: 1)
        let second = try await bad.nextAck(id: 2)
        guard case .ackError(1, let message1) = first, case .ackError(2, let message2) = second else {
            return XCTFail("expected error acks, got \(first) and \(second)")
        }
        XCTAssertTrue(message1.hasPrefix("invalid data for 'chat'"), message1)
        XCTAssertTrue(message1.contains("count"), message1)
        XCTAssertTrue(message2.hasPrefix("invalid data for 'chat'"), message2)
        bad.emit("chat", #"{"text":"valid","count":1}"#, id: 3)
        let third = try await bad.nextAck(id: 3)
        XCTAssertEqual(third, .ack(id: 3, data: nil))
        let chat = try await chats.expect("the chat handler")
        XCTAssertEqual(chat, Chat(text: "valid", count: 1), "the handler must not see data that does not decode")
        try await healthy.assertServed(id: 1)
    }

    func test_typedDecodeFailure_withoutId_getsErrorEvent_andHandlerIsNotCalled() async throws {
        let (_, bad, healthy, chats) = try await start()
        bad.emit("chat", "[1,2]")
        let error = try await bad.nextStrict(event: "error")
        let message = try error.decode([String: String].self)["message"] ?? ""
        XCTAssertTrue(message.hasPrefix("invalid data for 'chat'"), message)
        try await bad.assertServed(id: 1)
        XCTAssertEqual(chats.pending, [])
        try await healthy.assertServed(id: 1)
    }

    func test_binaryFrame_closesWith1003_andServerReasonIsParseError() async throws {
        let io = try startServer()
        installEcho(on: io.main)
        let sockets = SocketRegistry(io.main)
        let (bad, socket) = try await connectPair(io, sockets)
        let healthy = try await connectClient(io)
        let reasons = Mailbox<DisconnectReason>()
        socket.onDisconnect { reasons.put($0) }
        bad.socket.send(binary: [0x7B, 0x7D])
        let close = try await bad.closed()
        XCTAssertEqual(close.code, .unsupportedData)
        let reason = try await reasons.expect("onDisconnect")
        XCTAssertEqual(reason, .parseError)
        XCTAssertFalse(socket.connected)
        try await healthy.assertServed(id: 1)
        XCTAssertEqual(io.fetchSockets().map(\.id), [healthy.id])
    }

    func test_binaryFrame_laterEventsAreNotRelayed_afterClose1003() async throws {
        let io = try startServer()
        io.onConnection { socket in
            socket.on("broadcast") { (data: RawJSON) in try? socket.broadcast.emit("broadcast", data) }
        }
        let observer = try await connectClient(io)
        let bad = try await connectClient(io)
        bad.socket.send(binary: [0x7B, 0x7D])
        for index in 1...20 { bad.emit("broadcast", "\(index)") }  // sent before the close frame arrives
        let close = try await bad.closed()
        XCTAssertEqual(close.code, .unsupportedData)
        let fence = try await connectClient(io)
        fence.emit("broadcast", #""fence""#)
        let next = try await observer.next(event: "broadcast")
        XCTAssertEqual(next.json, #""fence""#, "an event sent after the binary frame was relayed")
    }

    func test_oversizedMessage_closesWith1009_andOthersAreServed() async throws {
        let io = try startServer { $0.maxPayload = 1000 }
        installEcho(on: io.main)
        let bad = try await connectClient(io)
        let healthy = try await connectClient(io)
        bad.emit("echo", "\"" + String(repeating: "x", count: 1000) + "\"")
        let close = try await bad.closed()
        XCTAssertEqual(close.code, .messageTooBig)
        try await healthy.assertServed(id: 1)
    }
}
