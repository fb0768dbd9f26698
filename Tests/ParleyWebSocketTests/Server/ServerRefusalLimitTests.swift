import Foundation
import XCTest
@testable import ParleyWebSocket

/// The per-address refusal limit over real sockets: refused upgrades count, and over the limit
/// an upgrade gets 429 with Retry-After before any WebSocket work.
final class ServerRefusalLimitTests: XCTestCase {
    /// Sends `request` on a fresh connection; returns the response head.
    private func exchange(_ request: String, port: Int, file: StaticString = #filePath, line: UInt = #line) throws -> HTTPHead {
        let client = try RawClient(port: port)
        defer { client.close() }
        return try XCTUnwrap(try client.exchange(request), "no response head", file: file, line: line)
    }

    private let badOrigin = RawClient.upgradeRequest(headers: ["Origin": "https://evil.example"])
    private let goodUpgrade = RawClient.upgradeRequest(headers: ["Origin": "https://good.example"])

    func test_upgrade_gets429WithRetryAfter_afterMaxRefusalsFromTheAddress() throws {
        let server = try startEchoServer {
            $0.allowedOrigins = ["https://good.example"]
            $0.refusalLimit = .init(maxRefusals: 3, window: .seconds(30))
        }
        for _ in 0..<3 { XCTAssertEqual(try exchange(badOrigin, port: server.port).status, 403) }
        let limited = try exchange(goodUpgrade, port: server.port)
        XCTAssertEqual(limited.statusLine, "HTTP/1.1 429 Too Many Requests")
        let retryAfter = try XCTUnwrap(limited["Retry-After"].flatMap { Int($0) }, "Retry-After in whole seconds")
        XCTAssertTrue((1...30).contains(retryAfter), "Retry-After \(retryAfter)")
        XCTAssertEqual(try exchange(badOrigin, port: server.port).status, 429, "refused before the Origin is even looked at")
        // Other paths (pages, the client script) are still served.
        XCTAssertEqual(try exchange(RawClient.upgradeRequest(path: "/missing"), port: server.port).status, 404)
    }

    func test_upgrade_isLimited_byDefault_after20Refusals() throws {
        let server = try startEchoServer { $0.allowedOrigins = ["https://good.example"] }
        for _ in 0..<20 { XCTAssertEqual(try exchange(badOrigin, port: server.port).status, 403) }
        XCTAssertEqual(try exchange(goodUpgrade, port: server.port).status, 429)
    }

    func test_upgrade_isNeverLimited_whenRefusalLimitIsNil() throws {
        let server = try startEchoServer {
            $0.allowedOrigins = ["https://good.example"]
            $0.refusalLimit = nil
        }
        for _ in 0..<25 { XCTAssertEqual(try exchange(badOrigin, port: server.port).status, 403) }
        XCTAssertEqual(try exchange(goodUpgrade, port: server.port).status, 101)
    }

    func test_refusalsFromOtherPaths_doNotCount() throws {
        let server = try startEchoServer { $0.refusalLimit = .init(maxRefusals: 2, window: .seconds(30)) }
        for _ in 0..<5 { XCTAssertEqual(try exchange(RawClient.upgradeRequest(path: "/favicon.ico"), port: server.port).status, 404) }
        XCTAssertEqual(try exchange(goodUpgrade, port: server.port).status, 101)
    }

    func test_recordRefusal_countsRefusalsReportedByTheApplication() throws {
        let server = try startEchoServer { $0.refusalLimit = .init(maxRefusals: 2, window: .seconds(30)) }
        server.server.recordRefusal(from: "127.0.0.1:1")
        server.server.recordRefusal(from: "127.0.0.1:2")
        XCTAssertEqual(try exchange(goodUpgrade, port: server.port).status, 429)
    }
}
