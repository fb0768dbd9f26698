import Foundation
import Parley
import ParleyProtocol
import TestSupport
import XCTest
@testable import ParleyClient

/// ParleyClient in Socket.IO mode against a Parley server's own `/socket.io/` endpoint, and
/// the mode's URL.
final class SocketIOModeTests: XCTestCase {
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
