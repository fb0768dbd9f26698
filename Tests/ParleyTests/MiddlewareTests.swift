import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Connection middleware (Protocol.md 5.2): refusals, async checks, the timeout, handshake
/// data, and the order of server and namespace middleware.
final class MiddlewareTests: XCTestCase {
    /// Refuses clients without `token=secret`, with detail data.
    private func requireToken(_ io: Server) throws {
        let detail = try RawJSON(json: #"{"code":401,"hint":"add ?token="}"#)
        io.use { handshake in
            guard handshake.query["token"] == "secret" else { throw ConnectError("unauthorized", data: detail) }
        }
    }

    func test_use_refusesWithConnectErrorAndData_thenClose1008_whenTokenMissing() async throws {
        let io = try startServer()
        try requireToken(io)
        let connected = Mailbox<String>()
        io.onConnection { connected.put($0.id) }
        let client = try await openClient(io, query: "token=wrong")
        let refusal = try await client.nextStrict(event: "connect_error")
        XCTAssertEqual(refusal.json, #"{"message":"unauthorized","data":{"code":401,"hint":"add ?token="}}"#)
        let close = try await client.closed()
        XCTAssertEqual(close, CloseEvent(code: .policyViolation, reason: "unauthorized"))
        XCTAssertEqual(client.pending, [], "nothing may follow connect_error")
        XCTAssertEqual(connected.pending, [], "a refused client never reaches onConnection")
        XCTAssertEqual(io.fetchSockets().count, 0)
    }

    func test_use_refusesWithMessageOnly_whenConnectErrorHasNoData() async throws {
        let io = try startServer()
        io.use { _ in throw ConnectError("closed for maintenance") }
        let client = try await openClient(io)
        let refusal = try await client.nextStrict(event: "connect_error")
        XCTAssertEqual(refusal.json, #"{"message":"closed for maintenance"}"#)
        let close = try await client.closed()
        XCTAssertEqual(close.code, .policyViolation)
    }

    func test_use_refusesWithErrorDescription_whenMiddlewareThrowsOtherError() async throws {
        struct Unavailable: Error, CustomStringConvertible { var description: String { "database unavailable" } }
        let io = try startServer()
        io.use { _ in throw Unavailable() }
        let client = try await openClient(io)
        let refusal = try await client.nextStrict(event: "connect_error")
        XCTAssertEqual(refusal.json, #"{"message":"database unavailable"}"#)
        let close = try await client.closed()
        XCTAssertEqual(close.code, .policyViolation)
    }

    func test_use_accepts_whenTokenPresent() async throws {
        let io = try startServer()
        try requireToken(io)
        installEcho(on: io.main)
        let client = try await openClient(io, query: "token=secret")
        try await client.awaitConnect()
        try await client.assertServed(id: 1)
    }

    func test_use_acceptsAfterAwaiting_andHandlesMessagesSentMeanwhile_afterConnect() async throws {
        let io = try startServer()
        installEcho(on: io.main)
        let started = Mailbox<String>()
        let gate = Gate()
        addTeardownBlock { gate.open() }
        io.use { handshake in
            started.put(handshake.address)
            await gate.wait()
        }
        let client = try await openClient(io)
        _ = try await started.expect("the middleware to start")
        for id in 1...3 { client.emit("echo", "\(id)", id: UInt64(id)) }  // before connect: kept
        gate.open()
        try await client.awaitConnect()
        for id in 1...3 {
            let answer = try await client.next()
            XCTAssertEqual(answer, try .ack(UInt64(id), "\(id)"))
        }
    }

    func test_use_closesWith1008_whenMoreThan64MessagesArriveBeforeConnect() async throws {
        let io = try startServer()
        let gate = Gate()
        addTeardownBlock { gate.open() }
        let started = Mailbox<Bool>()
        io.use { _ in
            started.put(true)
            await gate.wait()
        }
        let client = try await openClient(io)
        _ = try await started.expect("the middleware to start")
        for id in 0...Socket.maxEarlyMessages { client.emit("early", "\(id)") }
        let close = try await client.closed()
        XCTAssertEqual(close, CloseEvent(code: .policyViolation, reason: "too many messages before connect"))
    }

    func test_use_refusesWithMiddlewareTimeout_whenMiddlewareSleepsPastDeadline() async throws {
        let io = try startServer { $0.middlewareTimeout = .milliseconds(200) }
        io.use { _ in try await Task.sleep(for: .seconds(30)) }
        let start = ContinuousClock.now
        let client = try await openClient(io)
        let refusal = try await client.nextStrict(event: "connect_error")
        XCTAssertEqual(refusal.json, #"{"message":"middleware timeout"}"#)
        XCTAssertGreaterThanOrEqual(secondsSince(start), 0.19)
        let close = try await client.closed()
        XCTAssertEqual(close.code, .policyViolation)
    }

    func test_use_refusesWithMiddlewareTimeout_whenMiddlewareIgnoresCancellation() async throws {
        // Configuration.middlewareTimeout: "All middleware of one connection must finish within
        // this, or the client gets connect_error 'middleware timeout'", whatever the middleware does.
        let io = try startServer { $0.middlewareTimeout = .milliseconds(200) }
        let gate = Gate()
        addTeardownBlock { gate.open() }
        io.use { _ in await gate.wait() }  // e.g. a lookup that does not honour cancellation
        let client = try await openClient(io)
        let refusal = try await client.nextStrict(event: "connect_error", timeout: .seconds(2))
        XCTAssertEqual(refusal.json, #"{"message":"middleware timeout"}"#)
    }

    func test_use_attachesHandshakeData_visibleAsSocketData() async throws {
        let io = try startServer()
        io.use { handshake in
            await Task.yield()
            handshake.data["user"] = "ada"
            handshake.data["level"] = 3
        }
        let seen = Mailbox<String>()
        io.onConnection { socket in
            seen.put("\(socket.data["user"] as? String ?? "nil") \(socket.data["level"] as? Int ?? -1)")
        }
        _ = try await connectClient(io)
        let data = try await seen.expect("onConnection")
        XCTAssertEqual(data, "ada 3")
    }

    func test_handshake_queryExcludesNsp_andKeepsOtherDecodedParameters() async throws {
        let io = try startServer()
        let admin = io.of("/admin")
        let handshakes = Mailbox<Handshake>()
        io.use { handshakes.put($0) }
        let sockets = SocketRegistry(admin)
        let client = try await connectClient(io, query: "token=t%26x&nsp=%2Fadmin&room=a+b")
        let handshake = try await handshakes.expect("the middleware")
        XCTAssertEqual(handshake.query, ["token": "t&x", "room": "a b"])
        XCTAssertEqual(handshake.namespace, "/admin")
        XCTAssertTrue(handshake.address.hasPrefix("127.0.0.1:"), handshake.address)
        XCTAssertEqual(handshake.header("HOST"), "127.0.0.1:\(io.port)")
        XCTAssertNil(handshake.header("Sec-WebSocket-Key"), "WebSocket mechanics are not application headers")
        let socket = try await sockets.socket(id: client.id)
        XCTAssertTrue(socket.handshake === handshake)
    }

    func test_use_runsServerMiddlewareInOrder_thenNamespaceMiddleware() async throws {
        let io = try startServer()
        let order = Locked<[String]>([])
        let admin = io.of("/admin")
        admin.use { _ in order.append("admin 1") }  // added first, still runs after the server's
        io.use { _ in order.append("server 1") }
        io.main.use { _ in order.append("main") }
        io.use { _ in
            await Task.yield()
            order.append("server 2")
        }
        admin.use { _ in order.append("admin 2") }
        let connected = Mailbox<[String]>()
        admin.onConnection { _ in connected.put(order.value) }
        _ = try await connectClient(io, query: "nsp=/admin")
        let atAdmin = try await connected.expect("admin onConnection")
        XCTAssertEqual(atAdmin, ["server 1", "server 2", "admin 1", "admin 2"])
        order.withLock { $0 = [] }
        _ = try await connectClient(io)
        XCTAssertEqual(order.value, ["server 1", "server 2", "main"])
    }

    func test_use_stopsChain_atFirstRefusal() async throws {
        let io = try startServer()
        let order = Locked<[String]>([])
        io.use { _ in order.append("first") }
        io.use { _ in throw ConnectError("second refuses") }
        io.use { _ in order.append("third") }
        let client = try await openClient(io)
        let refusal = try await client.nextStrict(event: "connect_error")
        XCTAssertEqual(refusal.json, #"{"message":"second refuses"}"#)
        XCTAssertEqual(order.value, ["first"])
    }
}
