import Foundation
import XCTest
@testable import ParleyWebSocket

/// The caps on handshakes in progress over real sockets: half-open connections (accepted, no
/// request head) from one address take that address's slots only; over a cap a connection gets
/// 503 at once; a client from another address (127.0.0.2: Linux routes all of 127/8 to
/// loopback) still upgrades promptly, and a slot freed is usable again.
final class ServerHandshakeLimitTests: XCTestCase {
    /// A connection from `source` that sends nothing.
    private func halfOpen(_ server: TestServer, from source: String) throws -> RawClient {
        try RawClient(port: server.port, timeout: .seconds(3), source: source)
    }

    /// Waits until the server counts `count` handshakes in progress (the kernel completes TCP
    /// handshakes before the server accepts them).
    private func waitForHandshakes(_ server: TestServer, _ count: Int, file: StaticString = #filePath, line: UInt = #line) async throws {
        let start = ContinuousClock.now
        while server.server.context.handshakes.withLock({ $0.inProgress }) != count {
            guard secondsSince(start) < 5 else {
                XCTFail("handshakes in progress: \(server.server.context.handshakes.withLock { $0.inProgress }), expected \(count)", file: file, line: line)
                throw RawSocketError(description: "timed out")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func test_halfOpenFlood_getsServiceUnavailable_overPerAddressCap_whileOtherAddressUpgradesPromptly() async throws {
        let server = try startEchoServer {
            $0.maxHandshakesPerAddress = 8
            $0.maxHandshakes = 100
        }
        let flood = try (0..<8).map { _ in try halfOpen(server, from: "127.0.0.1") }
        try await waitForHandshakes(server, 8)

        // Over the cap: 503 with Retry-After, without sending anything.
        for _ in 0..<5 {
            let refused = try halfOpen(server, from: "127.0.0.1")
            let head = try XCTUnwrap(refused.readHead(), "over the per-address cap, the server must answer at once")
            XCTAssertEqual(head.status, 503)
            XCTAssertEqual(head["Retry-After"], "1")
            XCTAssertTrue(refused.awaitEOF())
        }

        let start = ContinuousClock.now
        let healthy = try RawClient(port: server.port, source: "127.0.0.2")
        try healthy.upgrade()
        XCTAssertLessThan(secondsSince(start), 1, "a client from another address is not held up")
        try healthy.sendFrame(.text, Array("ping".utf8))
        XCTAssertEqual(healthy.readFrame()?.payload, Array("ping".utf8))

        // One half-open connection leaves: its slot is free again.
        flood[0].close()
        try await waitForHandshakes(server, 7)
        let next = try RawClient(port: server.port, source: "127.0.0.1")
        try next.upgrade()
        withExtendedLifetime(flood) {}
    }

    func test_handshakes_overTotalCap_get503_fromAnyAddress() async throws {
        let server = try startEchoServer {
            $0.maxHandshakesPerAddress = 4
            $0.maxHandshakes = 6
        }
        let flood = try (0..<6).map { index in try halfOpen(server, from: "127.0.0.\(10 + index % 2)") }
        try await waitForHandshakes(server, 6)
        let refused = try halfOpen(server, from: "127.0.0.3")
        XCTAssertEqual(refused.readHead()?.status, 503)

        // Handshakes answered (upgraded or refused) no longer count.
        for client in flood { client.close() }
        try await waitForHandshakes(server, 0)
        let upgraded = try RawClient(port: server.port, source: "127.0.0.3")
        try upgraded.upgrade()
        XCTAssertEqual(server.server.context.handshakes.withLock { $0.inProgress }, 0, "an upgraded connection is no handshake in progress")
    }

    func test_timedOutHandshake_freesItsSlot() async throws {
        let server = try startEchoServer {
            $0.maxHandshakesPerAddress = 1
            $0.handshakeTimeout = .milliseconds(200)
        }
        let idle = try halfOpen(server, from: "127.0.0.4")
        XCTAssertTrue(idle.awaitEOF(), "dropped at the handshake timeout")
        try await waitForHandshakes(server, 0)
        let client = try RawClient(port: server.port, source: "127.0.0.4")
        try client.upgrade()
    }
}
