import Foundation
import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// The admin dashboard's page, token and namespace, over real sockets.
final class AdminDashboardTests: XCTestCase {
    private static let token = "s3cret-token"

    private func startAdminServer() throws -> Server {
        try startServer { $0.admin = .init(token: Self.token) }
    }

    /// GETs `target` with a raw HTTP request; returns the status, head lines and body.
    private func get(_ target: String, port: Int, headers: String = "") throws -> (status: Int, head: [String], body: String) {
        let raw = try RawClient(port: port)
        let (head, body) = try raw.http("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(headers)\r\n")
        let status = head.first.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
        return (status, head, String(decoding: body, as: UTF8.self))
    }

    func test_page_isRefusedWith401_withoutTheRightToken() async throws {
        let io = try startAdminServer()
        for (target, headers) in [("/parley/admin", ""), ("/parley/admin?token=wrong", ""), ("/parley/admin?token=", ""),
                                  ("/parley/admin", "Authorization: Bearer wrong\r\n"),
                                  ("/parley/admin", "Authorization: Basic \(Self.token)\r\n")] {
            let answer = try get(target, port: io.port, headers: headers)
            XCTAssertEqual(answer.status, 401, "\(target) \(headers)")
            XCTAssertTrue(answer.head.contains(#"WWW-Authenticate: Bearer realm="parley admin""#), "\(answer.head)")
            XCTAssertFalse(answer.body.contains(Self.token))
        }
        XCTAssertEqual(io.metrics.refusals[.unauthorized], 5)
    }

    func test_page_isServed_withTheTokenInTheQueryOrABearerHeader() async throws {
        let io = try startAdminServer()
        let byQuery = try get("/parley/admin?token=\(Self.token)", port: io.port)
        XCTAssertEqual(byQuery.status, 200)
        XCTAssertTrue(byQuery.body.contains("<title>Parley admin</title>"))
        XCTAssertTrue(byQuery.body.contains(#"data-namespace="/parley-admin""#))
        XCTAssertTrue(byQuery.head.contains("Cache-Control: no-store"))
        let byHeader = try get("/parley/admin", port: io.port, headers: "Authorization: Bearer \(Self.token)\r\n")
        XCTAssertEqual(byHeader.status, 200)
        // Its script, styles and client hold no data: public.
        XCTAssertEqual(try get("/parley/admin/admin.js", port: io.port).status, 200)
        XCTAssertEqual(try get("/parley/admin/admin.css", port: io.port).status, 200)
        XCTAssertEqual(try get("/parley/admin/parley.js", port: io.port).status, 200)
    }

    func test_page_isNotServed_withoutAdminConfigured() async throws {
        let io = try startServer()
        XCTAssertEqual(try get("/parley/admin?token=\(Self.token)", port: io.port).status, 404)
    }

    func test_namespace_refusesSocketsWithoutTheToken_evenWithServerMiddlewarePassing() async throws {
        let io = try startAdminServer()
        io.use { _ in }  // server-wide middleware does not guard (or block) the admin namespace
        let refused = try await openClient(io, query: "nsp=/parley-admin&token=wrong")
        let error = try await refused.next(event: "connect_error")
        XCTAssertEqual(error.json, #"{"message":"unauthorized"}"#)
        let close = try await refused.closed()
        XCTAssertEqual(close.code, .policyViolation)
    }

    func test_namespace_streamsHistoryAndSnapshots_thatFollowTheConnections() async throws {
        let io = try startServer { configuration in
            configuration.admin = .init(token: Self.token)
            configuration.loopCount = 1
        }
        io.use { handshake in
            guard handshake.query["app"] == "yes" else { throw ConnectError("app token") }
        }
        io.onConnection { socket in try socket.join("lobby") }
        let watcher = try await connectClient(io, query: "nsp=/parley-admin&token=\(Self.token)")
        let history = try await watcher.next(event: "history")
        XCTAssertNotNil(history.data)
        let first = try await watcher.next(event: "snapshot")
        struct Snapshot: Decodable {
            struct Point: Decodable { var connections: Int }
            struct Namespace: Decodable { var name: String; var sockets: Int; var rooms: [Room] }
            struct Room: Decodable { var name: String; var members: Int }
            var point: Point
            var namespaces: [Namespace]
            var refusals: [String: Int]
        }
        XCTAssertEqual(try first.decode(Snapshot.self).point.connections, 1, "the watcher itself")

        var clients: [EnvelopeClient] = []
        for _ in 0..<3 { clients.append(try await connectClient(io, query: "app=yes")) }
        // Snapshots come every second; wait for one that sees the three.
        var seen: Snapshot?
        for _ in 0..<5 {
            let snapshot = try await watcher.next(event: "snapshot", timeout: .seconds(3)).decode(Snapshot.self)
            if snapshot.point.connections == 4 { seen = snapshot; break }
        }
        let snapshot = try XCTUnwrap(seen, "no snapshot showed the three clients")
        let main = try XCTUnwrap(snapshot.namespaces.first { $0.name == "/" })
        XCTAssertEqual(main.sockets, 3)
        XCTAssertEqual(main.rooms.map(\.name), ["lobby"])
        XCTAssertEqual(main.rooms.first?.members, 3)

        // The members of a room, with their addresses.
        watcher.emit("room", #"{"namespace":"/","room":"lobby"}"#, id: 1)
        let answer = try await watcher.nextAck(id: 1)
        guard case .ack(_, let data) = answer else { return XCTFail("\(answer)") }
        struct Member: Decodable { var id: String; var address: String; var connectedFor: Double }
        let members = try (data ?? .null).decode([Member].self)
        XCTAssertEqual(Set(members.map(\.id)), Set(clients.map(\.id)))
        XCTAssertTrue(members.allSatisfy { $0.address.hasPrefix("127.0.0.1:") && $0.connectedFor >= 0 })
    }

    func test_constantTimeEquals_matchesOnlyTheSameNonEmptyToken() {
        XCTAssertTrue(AdminDashboard.constantTimeEquals("abc", "abc"))
        XCTAssertFalse(AdminDashboard.constantTimeEquals("abd", "abc"))
        XCTAssertFalse(AdminDashboard.constantTimeEquals("ab", "abc"))
        XCTAssertFalse(AdminDashboard.constantTimeEquals("abcd", "abc"))
        XCTAssertFalse(AdminDashboard.constantTimeEquals("", ""))
        XCTAssertFalse(AdminDashboard.constantTimeEquals("abc", ""))
    }
}
