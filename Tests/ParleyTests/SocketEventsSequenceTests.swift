import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// `socket.events`: every event in order for a `for await` loop, finished on disconnect.
final class SocketEventsSequenceTests: XCTestCase {
    /// Starts a consumer of every connected socket's `events`; `gate`, when given, holds it
    /// after the first event.
    private func consumeEvents(_ io: Server, gate: Gate? = nil) -> Mailbox<String> {
        let seen = Mailbox<String>()
        io.onConnection { socket in
            let events = socket.events  // taken at once: no event is missed
            Task {
                for await event in events {
                    seen.put("\(event.name) \(event.data?.description ?? "-")")
                    if event.name == "ask" { event.ack((try? event.decode(Int.self)).map { $0 * 2 }) }
                    await gate?.wait()
                }
                seen.put("finished")
            }
        }
        return seen
    }

    func test_events_deliversEveryEventInOrder_withData() async throws {
        let io = try startServer()
        let seen = consumeEvents(io)
        let client = try await connectClient(io)
        client.emit("a", "1")
        client.emit("b")
        client.emit("c", #"{"x": [1, 2]}"#)
        for n in 0..<100 { client.emit("n", "\(n)") }
        var names: [String] = []
        for _ in 0..<103 { names.append(try await seen.expect("an event")) }
        XCTAssertEqual(names, ["a 1", "b -", #"c {"x": [1, 2]}"#] + (0..<100).map { "n \($0)" })
    }

    func test_events_letsConsumerAnswerAck_insteadOfNoHandlerError() async throws {
        let io = try startServer()
        _ = consumeEvents(io)
        let client = try await connectClient(io)
        client.emit("ask", "21", id: 1)
        let answer = try await client.nextAck(id: 1)
        XCTAssertEqual(answer, try .ack(1, "42"))
    }

    func test_events_andHandlers_bothSeeEachEvent() async throws {
        let io = try startServer()
        let seen = consumeEvents(io)
        let handled = Mailbox<Int>()
        io.onConnection { socket in socket.on("a") { (n: Int) in handled.put(n) } }
        let client = try await connectClient(io)
        client.emit("a", "5")
        let fromSequence = try await seen.expect("the sequence")
        let fromHandler = try await handled.expect("the handler")
        XCTAssertEqual(fromSequence, "a 5")
        XCTAssertEqual(fromHandler, 5)
    }

    func test_events_finishes_whenServerDisconnects() async throws {
        let io = try startServer()
        let seen = consumeEvents(io)
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        client.emit("last", "1", id: 9)
        client.emit("echo", id: 10)  // no handler, but the sequence takes it: no error ack
        let last = try await seen.expect("the last event")
        XCTAssertEqual(last, "last 1")
        _ = try await seen.expect("echo")
        socket.disconnect()
        let finished = try await seen.expect("the sequence to finish")
        XCTAssertEqual(finished, "finished")
        _ = try await client.closed()
        XCTAssertEqual(client.pending, [.event(name: "disconnect", data: try RawJSON(json: #"{"reason":"io server disconnect"}"#), id: nil)],
                       "no error ack for the events the sequence took")
    }

    func test_events_finishes_whenClientCloses() async throws {
        let io = try startServer()
        let seen = consumeEvents(io)
        let client = try await connectClient(io)
        client.emit("only")
        client.close()
        let first = try await seen.expect("the event")
        let second = try await seen.expect("the sequence to finish")
        XCTAssertEqual([first, second], ["only -", "finished"])
    }

    func test_events_isFinishedAtOnce_whenTakenAfterDisconnect() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        let gone = Mailbox<DisconnectReason>()
        socket.onDisconnect { gone.put($0) }
        client.close()
        _ = try await gone.expect("onDisconnect")
        var count = 0
        for await _ in socket.events { count += 1 }
        XCTAssertEqual(count, 0)
    }

    func test_events_failsAckOfDroppedEvent_whenConsumerFallsBehindBound() async throws {
        let io = try startServer()
        let gate = Gate()
        addTeardownBlock { gate.open() }
        let seen = consumeEvents(io, gate: gate)
        let client = try await connectClient(io)
        let total = UInt64(Socket.maxQueuedEvents + 10)
        for id in 1...total { client.emit("slow", "\(id)", id: id) }
        // The consumer holds the first event; at most 1024 more wait (1...1024 if it had not
        // taken the first yet, 2...1025 if it had); the rest are dropped.
        let first = try await seen.expect("the first event")
        XCTAssertEqual(first, "slow 1")
        let answer = try await client.nextAck(id: total)
        XCTAssertEqual(answer, .ackError(id: total, message: "server busy: event dropped"))
        gate.open()
        for id in 2...UInt64(Socket.maxQueuedEvents) {
            let event = try await seen.expect("event \(id)")
            XCTAssertEqual(event, "slow \(id)")
            if event != "slow \(id)" { break }
        }
    }

    func test_events_ackedEventIsAnswered_afterConsumerTaskIsCancelled() async throws {
        // Protocol.md 8: an event with an id that nothing handles gets an error ack. A consumer
        // that stopped (its task was cancelled) handles nothing.
        let io = try startServer()
        let consumers = Mailbox<Task<Void, Never>>()
        let seen = Mailbox<String>()
        io.onConnection { socket in
            let events = socket.events
            consumers.put(Task {
                for await event in events { seen.put(event.name) }
                seen.put("finished")
            })
        }
        let client = try await connectClient(io)
        let consumer = try await consumers.expect("the consumer task")
        client.emit("first")
        _ = try await seen.expect("the first event")
        consumer.cancel()
        let finished = try await seen.expect("the sequence to finish")
        XCTAssertEqual(finished, "finished")
        client.emit("after", id: 1)
        let answer = try await client.nextAck(id: 1, timeout: .seconds(2))
        XCTAssertEqual(answer, .ackError(id: 1, message: "no handler for event 'after'"))
    }
}
