import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Token guessing: middleware refusals count toward the per-address refusal limit, and over it
/// upgrades get 429 with Retry-After before any WebSocket work (middleware does not even run).
final class RefusalLimitTests: XCTestCase {
    /// A server whose middleware wants `token=tok` and counts its runs.
    private func startGuarded(_ runs: Locked<Int>, _ configure: (inout Server.Configuration) -> Void) throws -> Server {
        let io = try startServer(configure)
        io.use { handshake in
            runs.withLock { $0 += 1 }
            guard handshake.query["token"] == "tok" else { throw ConnectError("unauthorized") }
        }
        return io
    }

    /// The status and header lines answering an upgrade of `/parley?query`.
    private func upgradeHead(_ io: Server, query: String) throws -> [String] {
        let raw = try RawClient(port: io.port)
        defer { raw.close() }
        let request = "GET /parley?\(query) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(RawClient.key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        return try raw.http(request).head
    }

    func test_upgrade_gets429_afterMaxRefusalsByMiddleware_andMiddlewareDoesNotRun() async throws {
        let runs = Locked(0)
        let io = try startGuarded(runs) { $0.refusalLimit = .init(maxRefusals: 3, window: .seconds(30)) }
        for guess in 0..<3 {
            let client = try await openClient(io, query: "token=guess\(guess)")
            _ = try await client.nextStrict(event: "connect_error")
            _ = try await client.closed()
        }
        let head = try upgradeHead(io, query: "token=tok")
        XCTAssertEqual(head.first, "HTTP/1.1 429 Too Many Requests")
        XCTAssertTrue(head.contains { $0.hasPrefix("Retry-After: ") }, "\(head)")
        XCTAssertEqual(runs.value, 3, "a limited upgrade never reaches middleware")
    }

    func test_upgrade_isNotLimited_whenRefusalLimitIsNil() async throws {
        let runs = Locked(0)
        let io = try startGuarded(runs) { $0.refusalLimit = nil }
        for guess in 0..<25 {
            let client = try await openClient(io, query: "token=guess\(guess)")
            _ = try await client.nextStrict(event: "connect_error")
        }
        let client = try await openClient(io, query: "token=tok")
        try await client.awaitConnect()
    }

    func test_invalidNamespace_countsAsARefusal() async throws {
        let io = try startServer { $0.refusalLimit = .init(maxRefusals: 2, window: .seconds(30)) }
        for _ in 0..<2 {
            let client = try await openClient(io, query: "nsp=/nowhere")
            _ = try await client.nextStrict(event: "connect_error")
        }
        XCTAssertEqual(try upgradeHead(io, query: "").first, "HTTP/1.1 429 Too Many Requests")
    }
}
