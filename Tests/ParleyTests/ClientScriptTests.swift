import Foundation
import ParleyWebSocket
import XCTest
@testable import Parley

/// The server serves the browser client, parley.js, at `<path>/parley.js` (`serveClient`).
final class ClientScriptTests: XCTestCase {
    /// The repository's file, read from the source tree: the bytes served must be these.
    private var sourceBytes: [UInt8] {
        get throws {
            let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../Sources/Parley/Resources/parley.js").standardizedFileURL
            return Array(try Data(contentsOf: file))
        }
    }

    private func get(_ path: String, port: Int, method: String = "GET", extra: String = "") throws -> (head: [String], body: [UInt8]) {
        let client = try RawClient(port: port)
        defer { client.close() }
        return try client.http("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(extra)\r\n")
    }

    private func field(_ name: String, in head: [String]) -> String? {
        head.dropFirst().first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
            .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
    }

    func test_clientScript_isTheRepositoryFile() throws {
        XCTAssertEqual(Server.clientScript.body, try sourceBytes)
        XCTAssertEqual(Server.clientScriptPath(for: "/parley"), "/parley/parley.js")
        XCTAssertEqual(Server.clientScriptPath(for: "/"), "/parley.js")
    }

    func test_serveClient_servesScriptWithTypeEntityTagAndCacheControl() throws {
        let io = try startServer()
        let (head, body) = try get("/parley/parley.js", port: io.port)
        XCTAssertEqual(head.first, "HTTP/1.1 200 OK")
        XCTAssertEqual(field("Content-Type", in: head), "text/javascript; charset=utf-8")
        XCTAssertEqual(field("Cache-Control", in: head), "no-cache")
        XCTAssertEqual(field("ETag", in: head), HTTPResponse.entityTag(for: try sourceBytes))
        XCTAssertEqual(field("Content-Length", in: head), String(body.count))
        XCTAssertEqual(body, try sourceBytes)
    }

    func test_serveClient_answers304_onRevalidation() throws {
        let io = try startServer()
        let tag = try XCTUnwrap(field("ETag", in: try get("/parley/parley.js", port: io.port).head))
        for method in ["GET", "HEAD"] {
            let (head, body) = try get("/parley/parley.js", port: io.port, method: method, extra: "If-None-Match: \(tag)\r\n")
            XCTAssertEqual(head.first, "HTTP/1.1 304 Not Modified")
            XCTAssertEqual(field("ETag", in: head), tag)
            XCTAssertEqual(body, [])
        }
        let (changed, body) = try get("/parley/parley.js", port: io.port, extra: "If-None-Match: \"stale\"\r\n")
        XCTAssertEqual(changed.first, "HTTP/1.1 200 OK")
        XCTAssertEqual(body, try sourceBytes)
    }

    func test_serveClient_answersHeadWithoutBody() throws {
        let io = try startServer()
        let (head, body) = try get("/parley/parley.js", port: io.port, method: "HEAD")
        XCTAssertEqual(head.first, "HTTP/1.1 200 OK")
        XCTAssertEqual(field("Content-Length", in: head), String(try sourceBytes.count))
        XCTAssertEqual(body, [])
    }

    func test_serveClient_off_answers404() throws {
        let io = try startServer { $0.serveClient = false }
        XCTAssertEqual(try get("/parley/parley.js", port: io.port).head.first, "HTTP/1.1 404 Not Found")
    }

    func test_serveClient_followsThePath_andLeavesWebSocketsServed() async throws {
        let io = try startServer { $0.path = "/rt" }
        XCTAssertEqual(try get("/rt/parley.js", port: io.port).head.first, "HTTP/1.1 200 OK")
        XCTAssertEqual(try get("/parley/parley.js", port: io.port).head.first, "HTTP/1.1 404 Not Found")
        let client = try await EnvelopeClient.connect("ws://127.0.0.1:\(io.port)/rt")
        defer { client.close() }
        try await client.awaitConnect()
    }

    func test_serveClient_yieldsToOwnRouteAtThatPath() throws {
        let mine = HTTPResponse(status: 200, headers: [("Content-Type", "text/javascript")], body: Array("mine".utf8))
        let io = try startServer { $0.routes["/parley/parley.js"] = mine }
        XCTAssertEqual(try get("/parley/parley.js", port: io.port).body, Array("mine".utf8))
    }
}
