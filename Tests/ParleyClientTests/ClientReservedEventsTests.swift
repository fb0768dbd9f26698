import Parley
import ParleyProtocol
import TestSupport
import XCTest
@testable import ParleyClient

/// What a Socket.IO user writes first: `client.on("connect")` and the other connection event
/// names reach the connection events with Socket.IO's payloads, names that never reach a client
/// are refused at registration, and handlers may throw without their errors being lost.
final class ClientReservedEventsTests: XCTestCase {
    private struct Boom: Error {}

    func test_clientOn_connectAndDisconnectByName_run_withTheReasonString() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, log) = makeClient(io.url)
        let seen = Mailbox<String>()
        client.on("connect") { [weak client] in
            seen.put("connect")
            try client?.emit("hello", "from the connect handler")
        }
        client.on("disconnect") { (reason: String) in seen.put("disconnect \(reason)") }
        client.on("disconnect") { seen.put("disconnect, no data") }
        client.connect()
        try await log.expect(.connect)
        let connect = try await seen.expect("connect")
        XCTAssertEqual(connect, "connect")
        let hello = try await server.take(1, of: "hello")
        XCTAssertEqual(hello, [#""from the connect handler""#])

        let socket = try await server.socket(id: client.id)
        socket.disconnect()
        let disconnect = [try await seen.expect("disconnect"), try await seen.expect("disconnect, no data")]
        XCTAssertEqual(disconnect, ["disconnect io server disconnect", "disconnect, no data"])
    }

    func test_clientOn_connectErrorByName_receivesTheMessage_asAStringOrAsMessageAndData() async throws {
        struct Refusal: Decodable, Sendable, Equatable {
            struct Detail: Decodable, Sendable, Equatable { var code: Int }
            var message: String
            var data: Detail?
        }
        let io = try startServer()
        io.use { _ in throw ConnectError("unauthorized", data: try RawJSON(json: #"{"code":42}"#)) }
        let (client, log) = makeClient(io.url)
        let messages = Mailbox<String>()
        let refusals = Mailbox<Refusal>()
        client.on("connect_error") { (message: String) in messages.put(message) }
        client.on("connect_error") { (refusal: Refusal) in refusals.put(refusal) }
        client.connect()
        guard case .connectError = try await log.next() else { return XCTFail("expected connect_error") }
        let message = try await messages.expect("the message")
        XCTAssertEqual(message, "unauthorized")
        let refusal = try await refusals.expect("the refusal")
        XCTAssertEqual(refusal, Refusal(message: "unauthorized", data: .init(code: 42)))
    }

    func test_clientOn_reconnectEventsByName_receiveTheAttemptNumber_andTheErrorMessage() async throws {
        let io = try startServer()
        let port = io.port
        await io.close(gracePeriod: .zero)
        let (client, log) = makeClient("ws://127.0.0.1:\(port)/parley")
        let seen = Mailbox<String>()
        client.once("reconnect_attempt") { (attempt: Int) in seen.put("attempt \(attempt)") }
        client.once("reconnect_error") { (message: String) in seen.put("error \(message.isEmpty ? "empty" : "with message")") }
        client.connect()
        let attempt = try await seen.expect("reconnect_attempt")
        XCTAssertEqual(attempt, "attempt 1")
        let error = try await seen.expect("reconnect_error")
        XCTAssertEqual(error, "error with message")
        _ = log
    }

    func test_clientOff_connectByName_removesItsHandlers() async throws {
        let io = try startServer()
        let (client, log) = makeClient(io.url)
        let seen = Mailbox<String>()
        let removed = client.on("connect") { seen.put("removed handler ran") }
        client.on("connect") { seen.put("kept") }
        client.off("connect", removed)
        client.connect()
        try await log.expect(.connect)
        let kept = try await seen.expect("the kept handler")
        XCTAssertEqual(kept, "kept")
        XCTAssertEqual(seen.pending, [])
    }

    func test_clientRoute_refusesNamesThatNeverReachAClient_andPayloadsAHandlerCannotTake() {
        let expectations: [(String, Client.HandlerSignature, String)] = [
            ("disconnecting", .noData(ack: false), #"client.on("disconnect") { (reason: String) in ... }"#),
            ("heartbeat", .noData(ack: false), "Protocol.md 5.4"),
            ("connect", .data(String.self, ack: false, event: "connect"), #"client.on("connect") { ... }"#),
            ("disconnect", .data(Int.self, ack: false, event: "disconnect"), #"client.on("disconnect") { (reason: String) in ... }"#),
            ("reconnect_attempt", .data(String.self, ack: false, event: "reconnect_attempt"), "(attempt: Int)"),
            ("connect_error", .data(Int.self, ack: false, event: "connect_error"), "(message: String)"),
            ("disconnect", .data(String.self, ack: true, event: "disconnect"), "nothing to acknowledge"),
            ("connect", .noData(ack: true), "nothing to acknowledge"),
        ]
        for (event, signature, fix) in expectations {
            guard case .refused(let message) = Client.route(event, signature) else {
                XCTFail("client.on(\"\(event)\") with \(signature.dataType ?? "no data") was accepted")
                continue
            }
            XCTAssertTrue(message.contains(fix), "\(event): \(message)")
            XCTAssertTrue(message.hasPrefix("client.on(\"\(event)\")"), message)
        }
        XCTAssertEqual(Client.route("connect", .noData(ack: false)), .connection(.connect))
        XCTAssertEqual(Client.route("connect", .data(RawJSON.self, ack: false, event: "connect")), .connection(.connect))
        XCTAssertEqual(Client.route("disconnect", .data(String.self, ack: false, event: "disconnect")), .connection(.disconnect))
        XCTAssertEqual(Client.route("reconnect", .data(Int.self, ack: false, event: "reconnect")), .connection(.reconnect))
        XCTAssertEqual(Client.route("reconnect_failed", .noData(ack: false)), .connection(.reconnectFailed))
        // The server sends `error` for bad input (Protocol.md section 8): an application event.
        XCTAssertEqual(Client.route("error", .data(RawJSON.self, ack: false, event: "error")), .event)
        XCTAssertEqual(Client.route("chat", .data(Int.self, ack: true, event: "chat")), .event)
    }

    func test_clientOn_throwingHandler_failsTheServersAck_andLaterEventsStillArrive() async throws {
        let io = try startServer()
        let server = ServerSide(io.main)
        let (client, _) = try await connectClient(io)
        let seen = Mailbox<String>()
        client.on("ask") { (_: String, _: Client.Ack) in throw Boom() }
        client.on("nan") { [weak client] (_: Client.Ack) in try client?.emit("number", Double.nan) }
        client.on("fence") { (text: String) in seen.put(text) }
        let socket = try await server.socket(id: client.id)
        do {
            _ = try await socket.emitWithAck("ask", "question", as: RawJSON.self)
            XCTFail("the ack succeeded")
        } catch {
            XCTAssertEqual(error as? ParleyError, .ackFailed(message: "the client failed to handle 'ask'"))
        }
        do {
            _ = try await socket.emitWithAck("nan", "please", as: RawJSON.self)
            XCTFail("the ack succeeded")
        } catch {
            XCTAssertEqual(error as? ParleyError, .ackFailed(message: "the client failed to handle 'nan'"))
        }
        try socket.emit("fence", "still delivered")
        let fence = try await seen.expect("the fence")
        XCTAssertEqual(fence, "still delivered")
    }

    func test_clientEmit_throwsEncodingFailed_forDataThatDoesNotEncode() throws {
        let client = Client(url: "ws://127.0.0.1:1/parley", options: { var options = Client.Options(); options.autoConnect = false; return options }())
        XCTAssertThrowsError(try client.emit("number", Double.nan)) { error in
            guard case ClientError.encodingFailed = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try client.emit("connect")) { error in
            XCTAssertEqual(error as? ClientError, .reservedEvent("connect"))
        }
    }
}
