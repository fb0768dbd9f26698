import ParleyProtocol
import TestSupport
import XCTest
@testable import Parley

/// Acknowledgements both ways (Protocol.md 5 and 8).
final class AckTests: XCTestCase {
    // MARK: The client asks

    func test_ack_answersWithClientId_andHandlerValue() async throws {
        let io = try startServer()
        io.onConnection { socket in
            socket.on("add") { (numbers: [Int], ack: Ack) in ack(numbers.reduce(0, +)) }
            socket.on("greet") { (chat: Chat, ack: Ack) in ack(Chat(text: "re: " + chat.text, count: chat.count + 1)) }
        }
        let client = try await connectClient(io)
        client.emit("add", "[1, 2, 3]", id: 7)
        client.emit("greet", #"{"text":"hi","count":1}"#, id: 9_007_199_254_740_991)
        let sum = try await client.nextAck(id: 7)
        XCTAssertEqual(sum, try .ack(7, "6"))
        let greeting = try await client.nextAck(id: 9_007_199_254_740_991)
        XCTAssertEqual(greeting, try .ack(9_007_199_254_740_991, #"{"count":2,"text":"re: hi"}"#))
    }

    func test_ack_answersWithoutData_whenCalledWithNoValue() async throws {
        let io = try startServer()
        io.onConnection { socket in socket.on("done") { (ack: Ack) in ack() } }
        let client = try await connectClient(io)
        client.emit("done", id: 0)
        let answer = try await client.nextAck(id: 0)
        XCTAssertEqual(answer, .ack(id: 0, data: nil))
    }

    func test_ack_answersOnlyOnce_whenCalledTwice() async throws {
        let io = try startServer()
        io.onConnection { socket in
            socket.on("twice") { (ack: Ack) in
                XCTAssertTrue(ack.isRequested)
                XCTAssertEqual(ack.id, 5)
                ack("first")
                ack("second")
                ack.fail("third")
            }
            socket.on("fence") { (ack: Ack) in ack("fence") }
        }
        let client = try await connectClient(io)
        client.emit("twice", id: 5)
        client.emit("fence", id: 6)
        let first = try await client.next()
        let second = try await client.next()
        XCTAssertEqual(first, try .ack(5, "\"first\""))
        XCTAssertEqual(second, try .ack(6, "\"fence\""))
    }

    func test_ackFail_sendsErrorAck() async throws {
        let io = try startServer()
        io.onConnection { socket in socket.on("withdraw") { (amount: Int, ack: Ack) in ack.fail("insufficient funds: \(amount)") } }
        let client = try await connectClient(io)
        client.emit("withdraw", "100", id: 3)
        let answer = try await client.nextAck(id: 3)
        XCTAssertEqual(answer, .ackError(id: 3, message: "insufficient funds: 100"))
    }

    func test_ack_isErrorAck_whenAnswerCannotBeEncoded() async throws {
        let io = try startServer()
        io.onConnection { socket in socket.on("nan") { (ack: Ack) in ack(Double.nan) } }
        let client = try await connectClient(io)
        client.emit("nan", id: 2)
        let answer = try await client.nextAck(id: 2)
        XCTAssertEqual(answer, .ackError(id: 2, message: "the server could not encode its answer"))
    }

    func test_ack_isErrorNoHandler_whenNoHandlerHandlesAckedEvent() async throws {
        let io = try startServer()
        io.onConnection { socket in socket.onAny { _, _ in } }  // onAny is not a handler of the event
        let client = try await connectClient(io)
        client.emit("nobody", "1", id: 12)
        let answer = try await client.nextAck(id: 12)
        XCTAssertEqual(answer, .ackError(id: 12, message: "no handler for event 'nobody'"))
    }

    func test_ack_isNotSent_whenEventAskedForNone() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        io.onConnection { socket in socket.on("quiet") { (ack: Ack) in
            XCTAssertFalse(ack.isRequested)
            ack("ignored")
        } }
        let (client, socket) = try await connectPair(io, sockets)
        client.emit("quiet")
        client.emit("unhandled")
        client.emit("echo-fence", id: 1)  // no handler: the error ack is the fence
        let next = try await client.next()
        XCTAssertEqual(next, .ackError(id: 1, message: "no handler for event 'echo-fence'"))
        XCTAssertTrue(socket.connected)
    }

    // MARK: The server asks

    func test_emitWithAck_returnsClientAnswer_decoded() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        async let answer: Chat = socket.emitWithAck("question", Chat(text: "q", count: 1))
        let question = try await client.nextStrict(event: "question")
        XCTAssertEqual(question.json, #"{"count":1,"text":"q"}"#)
        let id = try XCTUnwrap(question.id, "the server's event must carry an id")
        XCTAssertEqual(id, 1, "a server numbers its acks 1, 2, 3, ... per socket")
        client.ack(id, #"{"text":"a","count":2}"#)
        let value = try await answer
        XCTAssertEqual(value, Chat(text: "a", count: 2))

        async let second: Int = socket.emitWithAck("again", "x")
        let again = try await client.nextStrict(event: "again")
        XCTAssertEqual(again.id, 2)
        client.ack(2, "  42 ")
        let secondValue = try await second
        XCTAssertEqual(secondValue, 42)
    }

    func test_emitWithAck_resolvesEachAck_whenAnsweredOutOfOrder() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        async let one: String = socket.emitWithAck("q", 1)
        async let two: String = socket.emitWithAck("q", 2)
        let first = try await client.nextStrict(event: "q")
        let second = try await client.nextStrict(event: "q")
        let ids = try [XCTUnwrap(first.id), XCTUnwrap(second.id)]
        client.ack(ids[1], "\"answer \(second.json!)\"")
        client.ack(ids[0], "\"answer \(first.json!)\"")
        let answers = try await [one, two]
        XCTAssertEqual(answers, ["answer 1", "answer 2"])
    }

    func test_emitWithAck_throwsAckTimeout_whenClientNeverAnswers() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        let start = ContinuousClock.now
        do {
            let _: Int = try await socket.emitWithAck("silence", "?", timeout: .milliseconds(200))
            XCTFail("expected ackTimeout")
        } catch {
            XCTAssertEqual(error as? ParleyError, .ackTimeout(event: "silence"))
        }
        XCTAssertGreaterThanOrEqual(secondsSince(start), 0.19)
        XCTAssertLessThan(secondsSince(start), 3)
        // A late answer is ignored and the connection is kept.
        let question = try await client.nextStrict(event: "silence")
        client.ack(try XCTUnwrap(question.id), "1")
        installEchoOn(socket)
        try await client.assertServed(id: 100)
    }

    func test_emitWithAck_throwsAckFailed_whenClientAnswersWithError() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        async let answer: Int = socket.emitWithAck("risky", "go")
        let question = try await client.nextStrict(event: "risky")
        client.ackError(try XCTUnwrap(question.id), message: "boom \"quoted\"")
        do {
            _ = try await answer
            XCTFail("expected ackFailed")
        } catch {
            XCTAssertEqual(error as? ParleyError, .ackFailed(message: "boom \"quoted\""))
        }
    }

    func test_emitWithAck_throwsDisconnected_whenClientLeavesWhileWaiting() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        async let answer: Int = socket.emitWithAck("pending", "?", timeout: .seconds(30))
        _ = try await client.nextStrict(event: "pending")
        client.close()
        let start = ContinuousClock.now
        do {
            _ = try await answer
            XCTFail("expected disconnected")
        } catch {
            XCTAssertEqual(error as? ParleyError, .disconnected)
        }
        XCTAssertLessThan(secondsSince(start), 3)
    }

    func test_emitWithAck_throwsDisconnected_whenServerDisconnectsWhileWaiting() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        async let answer: Int = socket.emitWithAck("pending", "?", timeout: .seconds(30))
        _ = try await client.nextStrict(event: "pending")
        socket.disconnect()
        do {
            _ = try await answer
            XCTFail("expected disconnected")
        } catch {
            XCTAssertEqual(error as? ParleyError, .disconnected)
        }
    }

    func test_emitWithAck_throwsDisconnectedAtOnce_afterDisconnect() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let disconnected = Mailbox<DisconnectReason>()
        let (client, socket) = try await connectPair(io, sockets)
        socket.onDisconnect { disconnected.put($0) }
        client.close()
        _ = try await disconnected.expect("onDisconnect")
        do {
            let _: Int = try await socket.emitWithAck("late", 1)
            XCTFail("expected disconnected")
        } catch {
            XCTAssertEqual(error as? ParleyError, .disconnected)
        }
    }

    func test_emitWithAck_throwsReservedEvent_forProtocolNames() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (_, socket) = try await connectPair(io, sockets)
        do {
            let _: Int = try await socket.emitWithAck("disconnect", 1)
            XCTFail("expected reservedEvent")
        } catch {
            XCTAssertEqual(error as? ParleyError, .reservedEvent("disconnect"))
        }
    }

    func test_emitWithAck_throwsTooManyPendingAcks_beyondLimit_andAllFailOnDisconnect() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        let limit = Socket.maxPendingAcks
        let outcomes = Mailbox<String>()
        for n in 0..<limit {
            Task {
                do {
                    let _: Int = try await socket.emitWithAck("q", n, timeout: .seconds(30))
                    outcomes.put("answered")
                } catch {
                    outcomes.put("\(error)")
                }
            }
        }
        for _ in 0..<limit { _ = try await client.next(event: "q") }  // every one is pending now
        do {
            let _: Int = try await socket.emitWithAck("one too many", 0)
            XCTFail("expected tooManyPendingAcks")
        } catch {
            XCTAssertEqual(error as? ParleyError, .tooManyPendingAcks(limit: limit))
        }
        client.close()
        for _ in 0..<limit {
            let outcome = try await outcomes.expect("every pending ack to fail")
            XCTAssertEqual(outcome, ParleyError.disconnected.description)
        }
    }

    private func installEchoOn(_ socket: Socket) {
        socket.on("echo") { (data: RawJSON, ack: Ack) in ack(data) }
    }
}
