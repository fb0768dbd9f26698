import Parley
import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import ParleyClient

/// Reconnection after server restarts, exhausted attempts, and dead-server detection.
final class ClientReconnectTests: XCTestCase {
    func test_client_reconnectsAndFlushesBufferOnceInOrder_whenServerRestartsOnSamePort() async throws {
        let first = try startServer()
        let port = first.port
        let (client, log) = try await connectClient(first)
        let oldID = client.id

        await first.close(gracePeriod: .milliseconds(200))
        try await log.expect(.disconnect(reason: .transportClose))
        XCTAssertTrue(client.isActive)
        for n in 0..<10 { XCTAssertEqual(try client.emit("n", n), .buffered) }
        // Attempt 1 finds the port closed.
        try await log.expect(.reconnectAttempt(1))
        guard case .connectError = try await log.next() else { return XCTFail("expected connect_error") }
        guard case .reconnectError(.transport(.connectFailed)) = try await log.next() else { return XCTFail("expected reconnect_error") }

        let second = try startServer(port: port)
        installHandlers(on: second.main)
        let server = ServerSide(second.main)
        // Attempts go on, numbered 2, 3, ... until one reaches the new server.
        var expectedAttempt = 2
        var reconnected = 0
        while reconnected == 0 {
            switch try await log.next() {
            case .reconnectAttempt(let attempt):
                XCTAssertEqual(attempt, expectedAttempt)
                expectedAttempt += 1
            case .reconnect(let attempts):
                reconnected = attempts
            case .connectError, .reconnectError:
                continue
            case let other:
                return XCTFail("unexpected \(other)")
            }
        }
        XCTAssertEqual(reconnected, expectedAttempt - 1)
        try await log.expect(.connect)
        XCTAssertNotEqual(client.id, oldID)

        // The buffer arrives in order, once: nothing else comes before the fence's answer.
        let received = try await server.take(10, of: "n")
        XCTAssertEqual(received, (0..<10).map(String.init))
        let fence = try await client.emitWithAck("echo", "fence", as: String.self)
        XCTAssertEqual(fence, "fence")
        _ = try await server.received.expect("the fence") { $0.0 == "echo" }
        XCTAssertTrue(server.received.pending.isEmpty, "extra events: \(server.received.pending.map(\.0))")
    }

    func test_client_reportsReconnectFailed_afterLastAttempt() async throws {
        let io = try startServer()
        let (client, log) = try await connectClient(io) { $0.reconnectionAttempts = 3 }
        await io.close(gracePeriod: .milliseconds(200))
        try await log.expect(.disconnect(reason: .transportClose))
        for attempt in 1...3 {
            try await log.expect(.reconnectAttempt(attempt))
            guard case .connectError = try await log.next() else { return XCTFail("expected connect_error") }
            guard case .reconnectError = try await log.next() else { return XCTFail("expected reconnect_error") }
        }
        try await log.expect(.reconnectFailed)
        XCTAssertFalse(client.isActive)
        await log.expectSilence(for: .milliseconds(300))
    }

    func test_client_reconnects_afterConnectionDropsWithoutCloseFrame() async throws {
        // A server that drops the TCP connection (no close frame: 1006) when asked.
        let raw = try startRawServer { socket, _ in
            socket.send(text: #"{"event":"connect","data":{"id":"dropping-server-socket-id","pingInterval":0,"pingTimeout":0}}"#)
            socket.onMessage { socket, message in
                if message == .text(#"{"event":"drop-me"}"#) { socket.terminate() }
            }
        }
        let (client, log) = makeClient(raw.url)
        client.connect()
        try await log.expect(.connect)
        XCTAssertNil(client.pingInterval, "the server announced no pings")
        try client.emit("drop-me")
        try await log.expect(.disconnect(reason: .transportClose))
        try await log.expect(.reconnectAttempt(1))
        try await log.expect(.reconnect(1))
        try await log.expect(.connect)
        XCTAssertTrue(client.isConnected)
    }

    func test_client_detectsDeadServer_withinPingIntervalPlusPingTimeout() async throws {
        // A server that announces pings every 200 ms (timeout 100 ms) and then never sends one.
        let raw = try startRawServer { socket, _ in
            socket.send(text: #"{"event":"connect","data":{"id":"silent-server-socket-id","pingInterval":200,"pingTimeout":100}}"#)
        }
        let (client, log) = makeClient(raw.url)
        client.connect()
        try await log.expect(.connect)
        let connected = ContinuousClock.now
        XCTAssertEqual(client.pingInterval, .milliseconds(200))
        XCTAssertEqual(client.pingTimeout, .milliseconds(100))
        try await log.expect(.disconnect(reason: .pingTimeout), timeout: .seconds(2))
        let elapsed = secondsSince(connected)
        XCTAssertGreaterThanOrEqual(elapsed, 0.28)
        XCTAssertLessThan(elapsed, 0.3 + 0.5, "detected late")
        try await log.expect(.reconnectAttempt(1))
    }

    func test_client_staysConnected_whileServerPingsFasterThanDeadline() async throws {
        // The server pings every 50 ms and allows 250 ms: the client's deadline is 300 ms, and
        // only pings (no messages) arrive. A window of two deadlines must pass quietly.
        let io = try startServer {
            $0.pingInterval = .milliseconds(50)
            $0.pingTimeout = .milliseconds(250)
        }
        let (client, log) = try await connectClient(io)
        await log.expectSilence(for: .milliseconds(600))
        XCTAssertTrue(client.isConnected)
    }
}
