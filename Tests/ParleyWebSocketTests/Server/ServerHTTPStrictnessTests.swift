import Foundation
import XCTest
@testable import ParleyWebSocket

/// The server's answers to requests that bend HTTP/1.1 (versions, Host, repeated Origin), over
/// a real socket: each is refused with its status, and the connection closed.
final class ServerHTTPStrictnessTests: XCTestCase {
    /// Sends `request` on a fresh connection and asserts the refusal `status` and the close.
    private func assertRefused(_ request: String, port: Int, status: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let client = try RawClient(port: port)
        defer { client.close() }
        let head = try XCTUnwrap(try client.exchange(request), "no response head", file: file, line: line)
        XCTAssertEqual(head.status, status, "status line: \(head.statusLine)", file: file, line: line)
        XCTAssertEqual(client.readToEnd().end, .eof, "the server must close the connection after a refusal", file: file, line: line)
    }

    /// `upgradeRequest` with its request line's version replaced.
    private func upgradeRequest(version: String, headers: KeyValuePairs<String, String?> = [:]) -> String {
        RawClient.upgradeRequest(headers: headers).replacingOccurrences(of: " HTTP/1.1\r\n", with: " \(version)\r\n")
    }

    func test_upgrade_returns400_whenVersionIsHTTP19OrMalformed() throws {
        let server = try startEchoServer()
        try assertRefused(upgradeRequest(version: "HTTP/1.9"), port: server.port, status: 400)
        try assertRefused(upgradeRequest(version: "HTTP/1.x"), port: server.port, status: 400)
        try assertRefused(upgradeRequest(version: "HTTP/1.10"), port: server.port, status: 400)
    }

    func test_upgrade_returns505_whenMajorVersionIsNot1() throws {
        let server = try startEchoServer()
        try assertRefused(upgradeRequest(version: "HTTP/2.0"), port: server.port, status: 505)
    }

    func test_upgrade_returns400_whenHostIsMissing() throws {
        let server = try startEchoServer()
        try assertRefused(RawClient.upgradeRequest(headers: ["Host": nil]), port: server.port, status: 400)
    }

    func test_upgrade_returns400_whenHostAppearsTwice() throws {
        let server = try startEchoServer()
        let request = RawClient.upgradeRequest().replacingOccurrences(of: "Host: 127.0.0.1\r\n", with: "Host: 127.0.0.1\r\nHost: evil.example\r\n")
        try assertRefused(request, port: server.port, status: 400)
    }

    func test_routesAndEndpoints_return400_whenHostIsMissingOrRepeated() throws {
        let server = try startEchoServer {
            $0.dynamicRoutes = ["/status": { _ in .plain(200) }]
            $0.endpoints = [HTTPEndpoint(prefix: "/api/", maxBodyBytes: 1_024) { _, responder in responder.respond(.plain(200)) }]
        }
        for path in ["/status", "/api/x"] {
            try assertRefused("GET \(path) HTTP/1.1\r\n\r\n", port: server.port, status: 400)
            try assertRefused("GET \(path) HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", port: server.port, status: 400)
            try assertRefused("GET \(path) HTTP/1.1\r\nHost: a b\r\n\r\n", port: server.port, status: 400)
            // With one Host the same request is answered.
            let client = try RawClient(port: server.port)
            defer { client.close() }
            let head = try XCTUnwrap(try client.exchange("GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n"))
            XCTAssertEqual(head.status, 200, path)
        }
    }

    func test_upgrade_returns403_whenOriginAppearsTwice_andOriginsAreRestricted() throws {
        let server = try startEchoServer { $0.allowedOrigins = ["https://good.example"] }
        let request = RawClient.upgradeRequest(headers: ["Origin": "https://good.example"])
            .replacingOccurrences(of: "Origin: https://good.example\r\n", with: "Origin: https://good.example\r\nOrigin: https://evil.example\r\n")
        try assertRefused(request, port: server.port, status: 403)
        // One allowed Origin still upgrades.
        let client = try RawClient(port: server.port)
        defer { client.close() }
        let head = try XCTUnwrap(try client.exchange(RawClient.upgradeRequest(headers: ["Origin": "https://good.example"])))
        XCTAssertEqual(head.status, 101)
    }
}
