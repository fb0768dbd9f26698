import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Liveness (Protocol.md 5.3): a client that does not answer pings is dropped with `ping timeout`.
final class PingTimeoutTests: XCTestCase {
    func test_silentClient_isDropped_withPingTimeout_whileAnsweringClientStays() async throws {
        let io = try startServer {
            $0.pingInterval = .milliseconds(200)
            $0.pingTimeout = .milliseconds(200)
        }
        installEcho(on: io.main)
        let reasons = Mailbox<(id: String, reason: DisconnectReason)>()
        io.onConnection { socket in
            socket.onDisconnect { reasons.put((socket.id, $0)) }
        }
        // An answering client first, so that it lives through more ping rounds than the silent one.
        let healthy = try await connectClient(io)

        let raw = try RawClient(port: io.port)
        let start = ContinuousClock.now
        XCTAssertEqual(try raw.upgrade(target: "/parley"), 101)
        let frame = try XCTUnwrap(raw.readFrame(), "no connect frame")
        XCTAssertEqual(frame.opcode, 0x1)
        guard case .event("connect", let data, nil) = try EnvelopeCodec.decode(frame.payload) else {
            return XCTFail("expected connect, got \(String(decoding: frame.payload, as: UTF8.self))")
        }
        let info = try XCTUnwrap(data).decode(ConnectInfo.self)
        XCTAssertEqual(info.pingInterval, 200)
        XCTAssertEqual(info.pingTimeout, 200)

        let dropped = try await reasons.expect("the silent client's onDisconnect", timeout: .seconds(5)) { $0.id == info.id }
        XCTAssertEqual(dropped.reason, .pingTimeout)
        let elapsed = secondsSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.35, "one interval plus one timeout")
        XCTAssertLessThan(elapsed, 3)
        XCTAssertTrue(raw.awaitEOF(), "the server closes the TCP connection")

        try await healthy.assertServed(id: 1)
        XCTAssertEqual(io.fetchSockets().map(\.id), [healthy.id])
        XCTAssertEqual(reasons.pending.count, 0, "the answering client must not be dropped")
    }
}
