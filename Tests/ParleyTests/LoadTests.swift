import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Order under load, and a broadcast to many clients.
final class LoadTests: XCTestCase {
    private static let eventCount = 10_000

    func test_clientEvents_reachHandlerInOrder_whenTenThousandAreSentBackToBack() async throws {
        let io = try startServer()
        let outcome = Mailbox<String>()
        io.onConnection { socket in
            let expected = Locked(0)
            socket.on("n") { (n: Int) in
                let next = expected.withLock { expected -> Int in
                    defer { expected += 1 }
                    return expected
                }
                if n != next { outcome.put("expected \(next), got \(n)") }
                if next == Self.eventCount - 1 { outcome.put("all \(Self.eventCount) in order") }
            }
        }
        let client = try await connectClient(io)
        for n in 0..<Self.eventCount { client.emit("n", "\(n)") }
        let result = try await outcome.expect("the last event", timeout: .seconds(20))
        XCTAssertEqual(result, "all \(Self.eventCount) in order")
    }

    func test_serverEvents_reachClientInOrder_whenTenThousandAreEmittedBackToBack() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        for n in 0..<Self.eventCount { try socket.emit("n", n) }
        for n in 0..<Self.eventCount {
            let envelope = try await client.next(timeout: .seconds(20))
            guard envelope == .event(name: "n", data: RawJSON(unchecked: Array(String(n).utf8)), id: nil) else {
                return XCTFail("expected event \(n), got \(envelope)")
            }
        }
    }

    func test_ioEmit_reachesThousandClientsExactlyOnce() async throws {
        let clientCount = 1000
        let group = EventLoopGroup(loopCount: 2, name: "parley-test-clients")
        // Registered before the server's: teardown runs in reverse, so the server closes every
        // client first and only then are the client loops stopped.
        addTeardownBlock { group.shutdown() }
        let io = try startServer(gracePeriod: .seconds(10))
        let start = ContinuousClock.now
        let clients = try await withThrowingTaskGroup(of: [EnvelopeClient].self) { tasks in
            // 20 connectors of 50 clients each: well under the listen backlog.
            let perTask = clientCount / 20
            for _ in 0..<20 {
                tasks.addTask {
                    var clients: [EnvelopeClient] = []
                    for _ in 0..<perTask {
                        let client = try await EnvelopeClient.connect(io.url(), group: group)
                        try await client.awaitConnect()
                        clients.append(client)
                    }
                    return clients
                }
            }
            return try await tasks.reduce(into: []) { $0 += $1 }
        }
        XCTAssertEqual(clients.count, clientCount)
        XCTAssertEqual(io.main.clientCount, clientCount)

        try io.emit("news", Chat(text: "to everyone", count: clientCount))
        try io.emit("fence")
        for client in clients {
            let news = try await client.nextStrict(event: "news", timeout: .seconds(30))
            XCTAssertEqual(news.json, #"{"count":1000,"text":"to everyone"}"#)
            _ = try await client.nextStrict(event: "fence", timeout: .seconds(30))
        }
        for client in clients { client.assertOnlyEnvelopesReceived() }
        XCTAssertLessThan(secondsSince(start), 30)
    }
}
