import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// HTTP answers of the Parley server before any WebSocket exists.
final class ServerHTTPRefusalTests: XCTestCase {
    /// Connects and expects the handshake to be refused with `status`.
    private func assertRejected(_ url: String, status: Int, headers: [(name: String, value: String)] = [],
                                file: StaticString = #filePath, line: UInt = #line) async {
        do {
            let client = try await EnvelopeClient.connect(url, headers: headers)
            client.close()
            XCTFail("expected HTTP \(status), but the upgrade succeeded", file: file, line: line)
        } catch let WebSocketError.handshakeRejected(rejected, _) {
            XCTAssertEqual(rejected, status, file: file, line: line)
        } catch {
            XCTFail("expected HTTP \(status), got \(error)", file: file, line: line)
        }
    }

    func test_wrongPath_isRefusedWith404() async throws {
        let io = try startServer()
        await assertRejected("ws://127.0.0.1:\(io.port)/socket.io", status: 404)
        await assertRejected("ws://127.0.0.1:\(io.port)/", status: 404)
        _ = try await connectClient(io)
    }

    func test_originNotAllowed_isRefusedWith403_andAllowedOriginConnects() async throws {
        let io = try startServer { $0.origins = ["https://good.example"] }
        await assertRejected(io.url(), status: 403, headers: [("Origin", "https://evil.example")])
        let allowed = try await openClient(io, headers: [("Origin", "https://good.example")])
        try await allowed.awaitConnect()
        let noOrigin = try await openClient(io)  // non-browser clients send no Origin
        try await noOrigin.awaitConnect()
    }

    func test_maxClientsReached_isRefusedWith503_untilASlotFrees() async throws {
        let io = try startServer { $0.maxClients = 1 }
        let sockets = SocketRegistry(io.main)
        let (first, socket) = try await connectPair(io, sockets)
        await assertRejected(io.url(), status: 503)
        let gone = Mailbox<DisconnectReason>()
        socket.onDisconnect { gone.put($0) }
        first.close()
        _ = try await gone.expect("onDisconnect")
        let next = try await connectClient(io)
        XCTAssertEqual(io.fetchSockets().map(\.id), [next.id])
    }

    func test_route_isServedOnOtherPath() async throws {
        let io = try startServer { $0.routes = ["/health": HTTPResponse(status: 200, body: Array("ok".utf8))] }
        await assertRejected("ws://127.0.0.1:\(io.port)/health", status: 200)
    }
}
