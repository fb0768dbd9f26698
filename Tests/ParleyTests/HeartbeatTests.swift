import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Protocol.md 5.4: the envelope-level heartbeat of clients that cannot see pings (browsers).
final class HeartbeatTests: XCTestCase {
    func test_heartbeat_isAcknowledgedAtOnce_withoutData() async throws {
        let io = try startServer()
        let client = try await connectClient(io)
        client.emit("heartbeat", id: 41)
        let answer = try await client.next()
        XCTAssertEqual(answer, .ack(id: 41, data: nil))
    }

    func test_heartbeat_neverReachesHandlers() async throws {
        let io = try startServer()
        let seen = Mailbox<String>()
        io.onConnection { socket in
            socket.onAny { name, _ in seen.put("any " + name) }
            socket.on("fence") { (ack: Ack) in ack() }
        }
        let client = try await connectClient(io)
        client.emit("heartbeat", id: 1)
        client.emit("heartbeat")                 // without an id: counts as traffic, answered by nothing
        client.emit("fence", id: 2)
        let first = try await client.next()
        XCTAssertEqual(first, .ack(id: 1, data: nil))
        let second = try await client.next()
        XCTAssertEqual(second, .ack(id: 2, data: nil))
        XCTAssertEqual(seen.pending, ["any fence"])
    }

    func test_heartbeat_isAnsweredInOrderWithOtherAcks() async throws {
        let io = try startServer()
        installEcho(on: io.main)
        let client = try await connectClient(io)
        client.emit("echo", "1", id: 1)
        client.emit("heartbeat", id: 2)
        client.emit("echo", "3", id: 3)
        var answered: [Envelope] = []
        for _ in 1...3 { answered.append(try await client.next()) }
        XCTAssertEqual(answered, [.ack(id: 1, data: RawJSON(unchecked: Array("1".utf8))), .ack(id: 2, data: nil),
                                  .ack(id: 3, data: RawJSON(unchecked: Array("3".utf8)))])
    }

    func test_heartbeat_sentBeforeConnect_isAnsweredAfterConnect() async throws {
        let io = try startServer()
        let release = Mailbox<Void>()
        io.use { _ in _ = try await release.expect("release") }
        let client = try await openClient(io)
        client.emit("heartbeat", id: 9)
        release.put(())
        _ = try await client.nextStrict(event: "connect")
        let answer = try await client.next()
        XCTAssertEqual(answer, .ack(id: 9, data: nil))
    }

    func test_emit_throwsReservedEvent_forHeartbeat() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (_, socket) = try await connectPair(io, sockets)
        XCTAssertThrowsError(try socket.emit("heartbeat")) { XCTAssertEqual($0 as? ParleyError, .reservedEvent("heartbeat")) }
        XCTAssertThrowsError(try io.emit("heartbeat", 1)) { XCTAssertEqual($0 as? ParleyError, .reservedEvent("heartbeat")) }
    }
}
