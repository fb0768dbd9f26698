import Parley
import ParleyProtocol
import TestSupport
import XCTest
@testable import ParleyClient

/// Acknowledgements both ways, with their timeouts and failures.
final class ClientAckTests: XCTestCase {
    func test_emitWithAck_returnsTypedAnswer_fromServer() async throws {
        let io = try startServer()
        io.onConnection { socket in
            socket.on("add") { (numbers: [Int], ack: Ack) in ack(numbers.reduce(0, +)) }
            socket.on("chat") { (chat: Chat, ack: Ack) in ack(Chat(text: chat.text.uppercased(), count: chat.count + 1)) }
        }
        let (client, _) = try await connectClient(io)
        let sum: Int = try await client.emitWithAck("add", [1, 2, 3])
        XCTAssertEqual(sum, 6)
        let chat = try await client.emitWithAck("chat", Chat(text: "hi", count: 1), as: Chat.self)
        XCTAssertEqual(chat, Chat(text: "HI", count: 2))
        let raw = try await client.emitWithAck("add", try RawJSON(json: "[40,2]"), as: RawJSON.self)
        XCTAssertEqual(raw.description, "42")
    }

    func test_emitWithAck_throwsAckFailed_whenServerAnswersWithError() async throws {
        let io = try startServer()
        installHandlers(on: io.main)
        let (client, _) = try await connectClient(io)
        do {
            _ = try await client.emitWithAck("refuse", 1, as: RawJSON.self)
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error as? ClientError, .ackFailed(message: "nope"))
        }
        do {
            _ = try await client.emitWithAck("unhandled", as: RawJSON.self)
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error as? ClientError, .ackFailed(message: "no handler for event 'unhandled'"))
        }
    }

    func test_emitWithAck_timesOut_andIgnoresLateAnswer() async throws {
        let io = try startServer()
        let held = Mailbox<Ack>()
        io.onConnection { socket in
            socket.on("slow") { (_: RawJSON, ack: Ack) in held.put(ack) }
            socket.on("echo") { (data: RawJSON, ack: Ack) in ack(data) }
        }
        let (client, _) = try await connectClient(io)
        let start = ContinuousClock.now
        do {
            _ = try await client.emitWithAck("slow", 1, timeout: .milliseconds(150), as: String.self)
            XCTFail("expected a timeout")
        } catch {
            XCTAssertEqual(error as? ClientError, .ackTimeout(event: "slow"))
        }
        XCTAssertGreaterThanOrEqual(secondsSince(start), 0.14)
        // The server answers late; the answer must not reach anyone, in particular not the next caller.
        let late = try await held.expect("the held ack")
        late("too late")
        let next = try await client.emitWithAck("echo", "fresh", as: String.self)
        XCTAssertEqual(next, "fresh")
        XCTAssertEqual(client.state.withLock { $0.outbox.pendingCount }, 0)
    }

    func test_emitWithAck_timedOutWhileBuffered_isNeverSent() async throws {
        let io = try startServer()
        installHandlers(on: io.main)
        let server = ServerSide(io.main)
        let (client, log) = makeClient(io.url)
        do {
            _ = try await client.emitWithAck("echo", "stale", timeout: .milliseconds(50), as: String.self)
            XCTFail("expected a timeout")
        } catch {
            XCTAssertEqual(error as? ClientError, .ackTimeout(event: "echo"))
        }
        try client.emit("fresh", 1)
        client.connect()
        try await log.expect(.connect)
        let (first, _) = try await server.received.expect("the first event")
        XCTAssertEqual(first, "fresh")
    }

    func test_emitWithAck_waitsThroughBuffer_andIsAnsweredAfterConnect() async throws {
        let io = try startServer()
        installHandlers(on: io.main)
        let (client, _) = makeClient(io.url)
        async let answer = client.emitWithAck("echo", "buffered", timeout: .seconds(5), as: String.self)
        client.connect()
        let value = try await answer
        XCTAssertEqual(value, "buffered")
    }

    func test_emitWithAck_failsWithDisconnected_whenConnectionIsLostAfterSending() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        io.onConnection { socket in socket.on("ignore") { (_: RawJSON, _: Ack) in } }
        let (client, _) = try await connectClient(io)
        let socket = try await server.socket(id: client.id)
        async let answer = client.emitWithAck("ignore", 1, timeout: .seconds(5), as: RawJSON.self)
        _ = try await server.received.expect("the ignored event") { $0.0 == "ignore" }
        socket.disconnect()
        do {
            _ = try await answer
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error as? ClientError, .disconnected)
        }
    }

    func test_emitWithAck_throwsCancellationError_whenTaskIsCancelled() async throws {
        let io = try startServer()
        installHandlers(on: io.main)
        let (client, _) = try await connectClient(io)
        let task = Task { try await client.emitWithAck("ignore", 1, timeout: .seconds(30), as: RawJSON.self) }
        try await waitUntil("the ack is awaited") { client.state.withLock { $0.outbox.pendingCount } == 1 }
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("expected cancellation")
        } catch {
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(client.state.withLock { $0.outbox.pendingCount }, 0)
    }

    func test_serverEmitWithAck_isAnsweredByClientHandler_typed() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = makeClient(io.url)
        client.on("length") { (text: String, ack: Client.Ack) in
            XCTAssertTrue(ack.isRequested)
            ack(text.count)
        }
        client.on("fail") { (_: RawJSON, ack: Client.Ack) in ack.fail("client says no") }
        client.connect()
        let socket = try await server.sockets.expect("a socket")
        let length = try await socket.emitWithAck("length", "hello", as: Int.self)
        XCTAssertEqual(length, 5)
        do {
            _ = try await socket.emitWithAck("fail", 1, as: RawJSON.self)
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error as? ParleyError, .ackFailed(message: "client says no"))
        }
    }

    func test_serverEmitWithAck_failsFast_whenClientHasNoHandlerOrDataDoesNotDecode() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = makeClient(io.url)
        client.on("number") { (n: Int, ack: Client.Ack) in ack(n) }
        client.connect()
        let socket = try await server.sockets.expect("a socket")
        do {
            _ = try await socket.emitWithAck("nobody", 1, as: RawJSON.self)
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error as? ParleyError, .ackFailed(message: "no handler for event 'nobody'"))
        }
        do {
            _ = try await socket.emitWithAck("number", "seven", as: Int.self)
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error as? ParleyError, .ackFailed(message: "invalid data for 'number': expected Int at top level"))
        }
    }

    func test_serverEmitWithAck_timesOut_whenClientHandlerNeverAnswers() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = makeClient(io.url)
        client.on("silent") { (_: RawJSON, _: Client.Ack) in }
        client.connect()
        let socket = try await server.sockets.expect("a socket")
        do {
            _ = try await socket.emitWithAck("silent", 1, timeout: .milliseconds(100), as: RawJSON.self)
            XCTFail("expected a timeout")
        } catch {
            XCTAssertEqual(error as? ParleyError, .ackTimeout(event: "silent"))
        }
    }

    func test_eventsSequence_canAnswerServerAcks() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = makeClient(io.url)
        let events = client.events
        let consumer = Task {
            for await event in events {
                if case .event("double", let data, let ack) = event, let n = try? data?.decode(Int.self) { ack(n * 2) }
            }
        }
        defer { consumer.cancel() }
        client.connect()
        let socket = try await server.sockets.expect("a socket")
        let doubled = try await socket.emitWithAck("double", 21, as: Int.self)
        XCTAssertEqual(doubled, 42)
    }
}
