import ParleyProtocol
import TestSupport
import XCTest
@testable import Parley

/// Protocol.md 5.1: what a client receives when the server accepts it.
final class ConnectTests: XCTestCase {
    func test_connect_isFirstMessage_withSocketIdAndPingSettingsInMilliseconds() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let client = try await openClient(io)
        let first = try await client.next()
        guard case .event("connect", let data, nil) = first else { return XCTFail("first message: \(first)") }
        let info = try XCTUnwrap(data).decode(ConnectInfo.self)
        XCTAssertEqual(info.pingInterval, 1000)
        XCTAssertEqual(info.pingTimeout, 2000)
        let socket = try await sockets.next()
        XCTAssertEqual(info.id, socket.id)
        XCTAssertTrue(socket.connected)
        XCTAssertEqual(socket.namespace.name, "/")
    }

    func test_connect_socketId_is22CharactersOfBase64URL_andUniquePerClient() async throws {
        let io = try startServer()
        var ids: Set<String> = []
        for _ in 0..<5 {
            let client = try await connectClient(io)
            XCTAssertEqual(client.id.count, 22, client.id)
            XCTAssertTrue(client.id.allSatisfy { $0.isLetter && $0.isASCII || $0.isNumber || $0 == "-" || $0 == "_" }, client.id)
            ids.insert(client.id)
        }
        XCTAssertEqual(ids.count, 5)
    }

    func test_connect_announcesZeroPingInterval_whenPingsAreDisabled() async throws {
        let io = try startServer { $0.pingInterval = nil }
        let client = try await openClient(io)
        let info = try await client.awaitConnect()
        XCTAssertEqual(info.pingInterval, 0)
        XCTAssertEqual(info.pingTimeout, 2000)
    }

    func test_connect_runsConnectionHandlersInOrder_andCountsClients() async throws {
        let io = try startServer()
        let order = Locked<[String]>([])
        let done = Mailbox<String>()
        io.onConnection { _ in order.append("first") }
        io.onConnection { socket in
            order.append("second")
            done.put(socket.id)
        }
        let client = try await connectClient(io)
        let id = try await done.expect("the second connection handler")
        XCTAssertEqual(id, client.id)
        XCTAssertEqual(order.value, ["first", "second"])
        XCTAssertEqual(io.main.clientCount, 1)
        XCTAssertEqual(io.clientCount, 1)
    }

    func test_connect_precedesEmitsOfConnectionHandlers() async throws {
        let io = try startServer()
        io.onConnection { socket in try? socket.emit("welcome", "hello") }
        let client = try await openClient(io)
        try await client.expectEvents(["connect", "welcome"])
    }

    func test_connect_thenDisconnect_whenConnectionHandlerDisconnectsAtOnce() async throws {
        let io = try startServer()
        let reasons = Mailbox<DisconnectReason>()
        io.onConnection { socket in
            socket.onDisconnect { reasons.put($0) }
            socket.disconnect()
        }
        let client = try await openClient(io)
        try await client.expectEvents(["connect", "disconnect"])
        let close = try await client.closed()
        XCTAssertEqual(close.code, .normalClosure)
        let reason = try await reasons.expect("onDisconnect")
        XCTAssertEqual(reason, .serverNamespaceDisconnect)
    }
}
