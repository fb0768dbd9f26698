import Parley
import ParleyProtocol
import TestSupport
import XCTest
@testable import ParleyClient

/// Connecting, refusals and disconnections against a real `Parley.Server`.
final class ClientConnectTests: XCTestCase {
    func test_client_connectsAndReportsServerSettings_whenServerAccepts() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, log) = makeClient(io.url)
        XCTAssertFalse(client.isActive)
        XCTAssertNil(client.id)
        client.connect()
        XCTAssertTrue(client.isActive)
        try await log.expect(.connect)
        XCTAssertTrue(client.isConnected)
        XCTAssertEqual(client.pingInterval, testPingInterval)
        XCTAssertEqual(client.pingTimeout, testPingTimeout)
        let socket = try await server.socket(id: client.id)
        XCTAssertEqual(socket.id.count, 22)
    }

    func test_client_connectsByItself_withAutoConnect() async throws {
        let io = try startServer()
        installHandlers(on: io.main)
        let server = ServerSide(io.main)
        let client = Client(url: io.url)
        addTeardownBlock { client.disconnect() }
        let socket = try await server.sockets.expect("the auto-connected socket")
        XCTAssertTrue(client.isActive)
        // `connect` may have been reported before a handler could be set: the id is the proof.
        let id = try await client.emitWithAck("whoami", timeout: .seconds(5), as: String.self)
        XCTAssertEqual(id, socket.id)
    }

    func test_client_sendsQueryHeadersAndNamespace_inTheHandshake() async throws {
        let io = try startServer()
        let admin = io.of("/admin")
        let handshakes = Mailbox<Handshake>()
        admin.use { handshake in handshakes.put(handshake) }
        let server = ServerSide(admin)
        let (client, _) = try await connectClient(io) { options in
            options.query = ["token": "s3cret & more", "lang": "fr"]
            options.headers = [(name: "X-Parley-Test", value: "yes")]
            options.namespace = "/admin"
        }
        let handshake = try await handshakes.expect("the middleware's handshake")
        XCTAssertEqual(handshake.query, ["token": "s3cret & more", "lang": "fr"])
        XCTAssertEqual(handshake.header("x-parley-test"), "yes")
        XCTAssertEqual(handshake.namespace, "/admin")
        let socket = try await server.socket(id: client.id)
        XCTAssertEqual(socket.namespace.name, "/admin")
    }

    func test_client_reportsConnectErrorAndDoesNotRetry_whenMiddlewareRefuses() async throws {
        let io = try startServer()
        let attempts = Locked(0)
        io.use { handshake in
            attempts.withLock { $0 += 1 }
            guard handshake.query["token"] == "secret" else {
                throw ConnectError("unauthorized", data: try RawJSON(json: #"{"code":42}"#))
            }
        }
        let (client, log) = makeClient(io.url) { $0.query = ["token": "wrong"] }
        client.connect()
        try await log.expect(.connectError(message: "unauthorized", data: try RawJSON(json: #"{"code":42}"#)))
        XCTAssertFalse(client.isActive)
        XCTAssertFalse(client.isConnected)
        // Several backoff delays (20-100 ms) pass without a reconnection attempt.
        await log.expectSilence(for: .milliseconds(400))
        XCTAssertEqual(attempts.value, 1)
    }

    func test_client_reportsConnectError_forUnknownNamespace() async throws {
        let io = try startServer()
        let (client, log) = makeClient(io.url) { $0.namespace = "/nowhere" }
        client.connect()
        try await log.expect(.connectError(message: "Invalid namespace", data: nil))
        XCTAssertFalse(client.isActive)
    }

    func test_client_staysDisconnected_afterIOServerDisconnect_untilConnectIsCalled() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, log) = try await connectClient(io)
        let socket = try await server.socket(id: client.id)
        socket.disconnect()
        try await log.expect(.disconnect(reason: .ioServerDisconnect))
        XCTAssertFalse(client.isActive)
        XCTAssertNil(client.id)
        await log.expectSilence(for: .milliseconds(300))
        client.connect()
        try await log.expect(.connect)
        XCTAssertNotEqual(client.id, socket.id)
    }

    func test_client_reportsIOClientDisconnect_andServerSeesItLeave_onDisconnect() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, log) = try await connectClient(io)
        let id = try XCTUnwrap(client.id)
        client.disconnect()
        XCTAssertFalse(client.isActive)
        XCTAssertFalse(client.isConnected)
        try await log.expect(.disconnect(reason: .ioClientDisconnect))
        let gone = try await server.disconnects.expect("the server-side disconnect")
        XCTAssertEqual(gone, id)
    }

    func test_client_retriesFirstConnection_whenServerIsNotThereYet() async throws {
        let io = try startServer()
        let port = io.port
        await io.close(gracePeriod: .zero)
        let (client, log) = makeClient("ws://127.0.0.1:\(port)/parley")
        client.connect()
        guard case .connectError = try await log.next() else { return XCTFail("expected connect_error first") }
        try await log.expect(.reconnectAttempt(1))
        guard case .connectError = try await log.next() else { return XCTFail("expected connect_error") }
        guard case .reconnectError(.transport(.connectFailed)) = try await log.next() else { return XCTFail("expected reconnect_error") }
        XCTAssertTrue(client.isActive)
    }

    func test_client_reportsConnectTimeout_whenServerNeverSendsConnect() async throws {
        let raw = try startRawServer { _, _ in }   // upgrades, then says nothing
        let (client, log) = makeClient(raw.url) {
            $0.timeout = .milliseconds(200)
            $0.reconnection = false
        }
        let start = ContinuousClock.now
        client.connect()
        try await log.expect(.connectError(message: "timeout", data: nil))
        XCTAssertGreaterThanOrEqual(secondsSince(start), 0.19)
        XCTAssertFalse(client.isActive)
    }

    func test_client_composesURL_withQueryAndNamespace() {
        XCTAssertEqual(Client.connectURL("ws://h/p", query: [:], namespace: "/"), "ws://h/p")
        XCTAssertEqual(Client.connectURL("ws://h/p", query: ["b": "2", "a": "x y"], namespace: "/admin"), "ws://h/p?a=x%20y&b=2&nsp=/admin")
        XCTAssertEqual(Client.connectURL("ws://h/p?v=1", query: ["t": "é&="], namespace: "/"), "ws://h/p?v=1&t=%C3%A9%26%3D")
    }
}
