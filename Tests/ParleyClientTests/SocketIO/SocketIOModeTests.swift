import Foundation
import Parley
import ParleyProtocol
import TestSupport
import XCTest
@testable import ParleyClient

/// ParleyClient in Socket.IO mode against a Parley server's own `/socket.io/` endpoint, and
/// the mode's URL.
final class SocketIOModeTests: XCTestCase {
    func test_socketIOAuth_addsPidAndOffset_beforeTheApplicationsKeys() throws {
        XCTAssertEqual(Client.socketIOAuth(try RawJSON(json: #" {"token":"t"}"#), pid: "P", offset: "4")?.description, #"{"pid":"P","offset":"4","token":"t"}"#)
        XCTAssertEqual(Client.socketIOAuth(try RawJSON(json: "{ }"), pid: "P", offset: "4")?.description, #"{"pid":"P","offset":"4"}"#)
        XCTAssertEqual(Client.socketIOAuth(nil, pid: "P", offset: "4")?.description, #"{"pid":"P","offset":"4"}"#)
        XCTAssertEqual(Client.socketIOAuth(try RawJSON(json: #"{"a":1}"#), pid: nil, offset: nil)?.description, #"{"a":1}"#)
    }

    func test_socketIOURL_addsEngineIOPathAndQuery_andKeepsAGivenPath() {
        XCTAssertEqual(Client.socketIOURL("http://localhost:3000", query: [:]), "ws://localhost:3000/socket.io/?EIO=4&transport=websocket")
        XCTAssertEqual(Client.socketIOURL("https://example.com/", query: ["token": "a b"]),
                       "wss://example.com/socket.io/?EIO=4&token=a%20b&transport=websocket")
        XCTAssertEqual(Client.socketIOURL("ws://127.0.0.1:8887/custom/?x=1", query: [:]),
                       "ws://127.0.0.1:8887/custom/?x=1&EIO=4&transport=websocket")
        XCTAssertEqual(Client.socketIOURL("ws://127.0.0.1:8887?x=1", query: [:]),
                       "ws://127.0.0.1:8887/socket.io/?x=1&EIO=4&transport=websocket")
    }

    /// A client of `io`'s Socket.IO endpoint, not connected yet.
    private func makeSocketIOClient(_ io: Server, _ configure: (inout Client.Options) -> Void = { _ in }) -> (Client, EventLog) {
        makeClient("http://127.0.0.1:\(io.port)") { options in
            options.protocol = .socketIO
            configure(&options)
        }
    }

    func test_socketIOMode_talksToParleyServer_withAuthArgumentsBinaryAndAcks() async throws {
        let io = try startServer()
        let seen = Mailbox<String>()
        io.use { handshake in
            guard handshake.auth("token", matchesSecret: "s3cret") else { throw ConnectError("unauthorized", data: try RawJSON(json: #"{"reason":"bad token"}"#)) }
        }
        io.onConnection { socket in
            socket.on("move") { (x: Int, y: Int) in seen.put("move \(x) \(y)") }
            socket.on("file") { (data: Data, ack: Ack) in ack(Data(data.reversed())) }
            socket.on("fail") { (ack: Ack) in ack.fail("nope") }
            socket.on("ask") {
                Task {
                    let answer: [Int] = (try? await socket.emitWithAck("pair", [1, 2])) ?? []
                    seen.put("answer \(answer)")
                }
            }
        }
        let (refused, refusedLog) = makeSocketIOClient(io) { $0.socketIOAuth = try? RawJSON(json: #"{"token":"guess"}"#) }
        refused.connect()
        try await refusedLog.expect(.connectError(message: "unauthorized", data: try RawJSON(json: #"{"reason":"bad token"}"#)))

        let (client, log) = makeSocketIOClient(io) { $0.socketIOAuth = try? RawJSON(json: #"{"token":"s3cret"}"#) }
        client.on("pair") { (pair: [Int], ack: Client.Ack) in
            ack(EventArguments([try RawJSON(encoding: pair[1]), try RawJSON(encoding: pair[0])]))
        }
        client.connect()
        try await log.expect(.connect)
        try client.emit("move", EventArguments([try RawJSON(json: "3"), try RawJSON(json: "4")]))
        let moved = try await seen.expect("move")
        XCTAssertEqual(moved, "move 3 4")
        let reversed: Data = try await client.emitWithAck("file", Data([1, 2, 3]))
        XCTAssertEqual(reversed, Data([3, 2, 1]))
        // A failed acknowledgement reaches a Socket.IO client as one argument {"error":{...}}.
        let failure: [String: [String: String]] = try await client.emitWithAck("fail")
        XCTAssertEqual(failure, ["error": ["message": "nope"]])
        try client.emit("ask")
        let answer = try await seen.expect("answer")
        XCTAssertEqual(answer, "answer [2, 1]")
    }

    func test_socketIOMode_answersServerPings_andReconnectsAfterServerRestart() async throws {
        let io = try startServer()
        let port = io.port
        let (client, log) = makeSocketIOClient(io)
        client.connect()
        try await log.expect(.connect)
        XCTAssertEqual(client.pingInterval, testPingInterval)
        await io.close(gracePeriod: .milliseconds(100))
        let lost = try await log.next()
        guard case .disconnect(let reason) = lost, reason.reconnects else { return XCTFail("expected a disconnect that reconnects, got \(lost)") }
        let restarted = try startServer(port: port)
        installHandlers(on: restarted.of("/"))
        restarted.onConnection { socket in
            // Answered four ping intervals later: the connection must outlive them.
            socket.on("late") { (ack: Ack) in
                Task {
                    try? await Task.sleep(for: testPingInterval * 4)
                    ack(socket.id)
                }
            }
        }
        _ = try await log.skip(until: "reconnect", timeout: .seconds(10)) { if case .reconnect = $0 { true } else { false } }
        try await log.expect(.connect)
        // Answered on the same connection several ping intervals later: the client answered the pings.
        let id = client.id
        let late: String = try await client.emitWithAck("late")
        XCTAssertEqual(late, id)
        XCTAssertTrue(log.events.pending.isEmpty, "\(log.events.pending)")
    }
}

/// ParleyClient in Socket.IO mode recovers its session from a Parley server with connection
/// state recovery, as a Socket.IO 4.6 client does (`pid` and `offset` in the CONNECT's auth).
final class SocketIOModeRecoveryTests: XCTestCase {
    func testSocketIOClient_cutOff_recoversSameIDAndEveryMissedEventOnceInOrder() async throws {
        let io = try startServer { $0.connectionStateRecovery = Server.ConnectionStateRecovery() }
        let auths = Locked<[String]>([])
        io.use { handshake in auths.withLock { $0.append(handshake.auth?.string(forKey: "token") ?? "none") } }
        io.onConnection { socket in
            socket.on("join") { (room: String, ack: Ack) in
                try socket.join(room)
                ack()
            }
        }
        let proxy = try CuttingProxy(target: io.port)
        defer { proxy.stop() }
        let authJSON = try RawJSON(json: #"{"token":"t"}"#)
        let (client, log) = makeClient("http://127.0.0.1:\(proxy.port)") { options in
            options.protocol = .socketIO
            options.socketIOAuth = authJSON
        }
        let numbers = Mailbox<Int>()
        client.on("n") { (number: Int) in numbers.put(number) }
        client.connect()
        try await log.expect(.connect)
        let id = try XCTUnwrap(client.id)
        XCTAssertFalse(client.recovered)
        let _: RawJSON = try await client.emitWithAck("join", "news")
        for number in 1...3 { try io.to("news").emit("n", number) }
        for number in 1...3 {
            let received = try await numbers.expect("number \(number)")
            XCTAssertEqual(received, number)
        }
        XCTAssertEqual(proxy.cut(), 1)
        _ = try await log.skip(until: "disconnect") { if case .disconnect = $0 { return true } else { return false } }
        for number in 4...6 { try io.to("news").emit("n", number) }
        _ = try await log.skip(until: "connect") { $0 == .connect }
        try io.to("news").emit("n", 7)
        var received: [Int] = []
        for _ in 4...7 { received.append(try await numbers.expect("a number")) }
        XCTAssertEqual(received, [4, 5, 6, 7], "every missed number once, in order, then live ones")
        XCTAssertEqual(client.id, id)
        XCTAssertTrue(client.recovered)
        XCTAssertNil(client.recoveryFailure)
        XCTAssertEqual(auths.value, ["t"], "the recovered client skipped middleware (its auth kept the token)")
    }
}
