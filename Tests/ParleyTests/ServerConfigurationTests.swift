import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Server.Configuration options that the WebSocket server enforces, over real sockets:
/// subprotocols (Protocol.md 1.2) and the server-wide buffer budget.
final class ServerConfigurationTests: XCTestCase {
    func test_subprotocols_selectsTheServersFirstPreferenceTheClientOffers() async throws {
        let io = try startServer { $0.subprotocols = ["parley.v2", "parley.v1"] }
        var configuration = WebSocketClient.Configuration()
        configuration.subprotocols = ["other", "parley.v1", "parley.v2"]
        let socket = try await WebSocketClient.connect(to: io.url(), configuration: configuration) { _ in }
        defer { socket.close() }
        XCTAssertEqual(socket.subprotocol, "parley.v2")

        configuration.subprotocols = ["other"]
        let without = try await WebSocketClient.connect(to: io.url(), configuration: configuration) { _ in }
        defer { without.close() }
        XCTAssertNil(without.subprotocol, "no protocol in common: the connection has none (RFC 6455 4.2.2)")
    }

    func test_maxBufferedBytes_closesAClientPinningMoreThanTheBudget_with1013() async throws {
        let io = try startServer { $0.maxBufferedBytes = 256 * 1024 }
        io.onConnection { socket in
            socket.on("echo") { (data: RawJSON, ack: Ack) in ack(data) }
        }
        let healthy = try await connectClient(io)
        let client = try RawClient(port: io.port)
        XCTAssertEqual(try client.upgrade(target: "/parley"), 101)
        // 400 KB of a 1,000,000-byte frame: within maxPayload, over the server's budget.
        let frame = FrameEncoder.frame(opcode: .text, payload: Array(repeating: 0x61, count: 1_000_000), maskKey: (1, 2, 3, 4))
        try client.write(Array(frame[..<400_014]))
        var close: (opcode: UInt8, payload: [UInt8])?
        while let frame = client.readFrame() {
            if frame.opcode == 0x8 { close = frame; break }
        }
        let payload = try XCTUnwrap(close?.payload, "no close frame")
        XCTAssertEqual(payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 0, 1013)
        healthy.emit("echo", "1", id: 1)
        _ = try await healthy.nextAck(id: 1)
        XCTAssertEqual(io.webSocketServer.metrics.bufferBudgetCloses, 1)
    }
}
