import Foundation
import ParleyProtocol
import TestSupport
import XCTest
@testable import Parley

/// Parley against python-socketio's client (a peer nobody here wrote): Tests/ParleyTests/Peers/sio_client.py.
final class SocketIOPeerTests: XCTestCase {
    /// A server with the handlers the peer's scenarios use.
    private func startSocketIOServer() throws -> Server {
        let io = try startServer()
        io.use { handshake in
            let token = try? handshake.auth?.decode([String: String].self)["token"]
            if token == "bad" { throw ConnectError("unauthorized", data: try RawJSON(json: #"{"reason":"bad token"}"#)) }
        }
        let handlers: @Sendable (Socket) -> Void = { socket in
            socket.on("whoami") { (ack: Ack) in ack(socket.id) }
            socket.on("args") { (arguments: EventArguments, ack: Ack) in
                ack(EventArguments([try! RawJSON(encoding: arguments.count), arguments.array]))
            }
            socket.on("give") { (count: Int) in
                let values = [RawJSON(unchecked: Array("1".utf8)), RawJSON(unchecked: Array(#""two""#.utf8)),
                              RawJSON(unchecked: Array(#"{"three":3}"#.utf8))]
                try? socket.emit("given", EventArguments(Array(values.prefix(count))))
            }
            socket.on("add") { (arguments: EventArguments, ack: Ack) in
                ack(((try? arguments.decode(0, as: Int.self)) ?? 0) + ((try? arguments.decode(1, as: Int.self)) ?? 0))
            }
            socket.on("ask") { (text: String) in
                Task {
                    let reply: String = (try? await socket.emitWithAck("question", text)) ?? "no answer"
                    try? socket.emit("answer", reply)
                }
            }
            socket.on("bin") { (data: Data, ack: Ack) in
                ack(data)
                try? socket.emit("bin", Data(data.reversed()))
            }
            socket.on("join") { (room: String, ack: Ack) in
                try socket.join(room)
                ack()
            }
            socket.on("room") { (data: RawJSON) in try? socket.to("r").emit("room", data) }
            socket.on("kick") { socket.disconnect() }
        }
        io.onConnection(handlers)
        io.of("/admin").onConnection { socket in
            socket.on("whoami") { (ack: Ack) in ack("admin:" + socket.id) }
        }
        return io
    }

    private func run(_ scenario: String, transports: String = "default", _ io: Server) async throws -> [String: Any] {
        let peer = try PythonPeer.start("sio_client.py", ["http://127.0.0.1:\(io.port)", scenario, transports], for: self)
        return try await peer.result()
    }

    func test_pythonClient_connectsOverPolling_andUpgradesToWebSocket() async throws {
        let io = try startSocketIOServer()
        let result = try await run("connect", io)
        XCTAssertEqual(result["transport"] as? String, "websocket")
        XCTAssertEqual(result["whoami"] as? String, result["sid"] as? String)
    }

    func test_pythonClient_connectsOverWebSocketOnly() async throws {
        let io = try startSocketIOServer()
        let result = try await run("connect", transports: "websocket", io)
        XCTAssertEqual(result["transport"] as? String, "websocket")
        XCTAssertEqual(result["whoami"] as? String, result["sid"] as? String)
    }

    func test_pythonClient_staysOnPolling_whenAskedTo() async throws {
        let io = try startSocketIOServer()
        let result = try await run("connect", transports: "polling", io)
        XCTAssertEqual(result["transport"] as? String, "polling")
        XCTAssertEqual(result["whoami"] as? String, result["sid"] as? String)
    }

    func test_pythonClient_refusedByMiddleware_getsMessageAndData() async throws {
        for transports in ["default", "websocket"] {
            let io = try startSocketIOServer()
            let result = try await run("refused", transports: transports, io)
            XCTAssertEqual(result["connected"] as? Bool, false, transports)
            // python-socketio hands the CONNECT_ERROR payload to `connect_error` as it came.
            let refusals = try XCTUnwrap(result["refusals"] as? [[String: Any]], transports)
            XCTAssertEqual(refusals.count, 1, transports)
            XCTAssertEqual(refusals.first?["message"] as? String, "unauthorized", transports)
            XCTAssertEqual(refusals.first?["data"] as? [String: String], ["reason": "bad token"], transports)
        }
    }

    func test_pythonClient_eventsAndAcks_withZeroToThreeArguments() async throws {
        for transports in ["polling", "websocket"] {
            let io = try startSocketIOServer()
            let result = try await run("events", transports: transports, io)
            let acks = try XCTUnwrap(result["acks"] as? [[Any]], transports)
            XCTAssertEqual(acks.map { $0[0] as? Int }, [0, 1, 2, 3], transports)
            XCTAssertEqual(try JSONSerialization.data(withJSONObject: acks.map { $0[1] }, options: .sortedKeys),
                           Data(#"[[],[1],[1,"two"],[1,"two",{"three":3}]]"#.utf8), transports)
            let given = try XCTUnwrap(result["given"] as? [[Any]], transports)
            XCTAssertEqual(given.map { $0[0] as? String }, ["given", "given", "given", "given"], transports)
            XCTAssertEqual(try JSONSerialization.data(withJSONObject: given.map { $0[1] }, options: .sortedKeys),
                           Data(#"[[],[1],[1,"two"],[1,"two",{"three":3}]]"#.utf8), transports)
        }
    }

    func test_pythonClient_acksBothWays() async throws {
        let io = try startSocketIOServer()
        let result = try await run("acks", io)
        XCTAssertEqual(result["sum"] as? Int, 5)
        let answer = try XCTUnwrap(result["answer"] as? [Any])
        XCTAssertEqual(answer[0] as? String, "answer")
        XCTAssertEqual(answer[1] as? [String], ["pong:ping"])
    }

    func test_pythonClient_binaryBothWays() async throws {
        for transports in ["polling", "websocket"] {
            let io = try startSocketIOServer()
            let result = try await run("binary", transports: transports, io)
            XCTAssertEqual(result["acked"] as? Bool, true, transports)
            XCTAssertEqual(result["echoed"] as? Bool, true, transports)
            XCTAssertEqual(result["types"] as? [String], ["bytes", "bytes"], transports)
        }
    }

    func test_pythonClient_twoNamespaces_onOneConnection() async throws {
        let io = try startSocketIOServer()
        let result = try await run("namespaces", io)
        let sids = try XCTUnwrap(result["sids"] as? [String])
        XCTAssertEqual(result["main"] as? String, sids[0])
        XCTAssertEqual(result["admin"] as? String, "admin:" + sids[1])
        XCTAssertNotEqual(sids[0], sids[1])
    }

    func test_pythonClient_sharesRoom_withEnvelopeClient() async throws {
        let io = try startSocketIOServer()
        let envelope = try await connectClient(io)
        envelope.emit("join", #""r""#, id: 1)
        _ = try await envelope.nextAck(id: 1)
        let peer = try PythonPeer.start("sio_client.py", ["http://127.0.0.1:\(io.port)", "room", "default"], for: self)
        try await peer.ready()
        envelope.emit("room", #"{"from":"envelope"}"#)
        let fromSocketIO = try await envelope.next(event: "room")
        XCTAssertEqual(fromSocketIO.data, try RawJSON(json: #"{"from":"socket.io"}"#))
        let result = try await peer.result()
        let received = try XCTUnwrap(result["received"] as? [Any])
        XCTAssertEqual(received[0] as? String, "room")
        XCTAssertEqual(received[1] as? [[String: String]], [["from": "envelope"]])
    }

    func test_pythonClient_staysOnPollingAndWorks_whenItsUpgradeIsRefused() async throws {
        // The upgrade's Origin is outside the allow-list (403); its polling requests have none.
        let guarded = try startServer { $0.origins = ["http://app.example"] }
        guarded.onConnection { socket in
            socket.on("whoami") { (ack: Ack) in ack(socket.id) }
            socket.on("add") { (arguments: EventArguments, ack: Ack) in
                ack(((try? arguments.decode(0, as: Int.self)) ?? 0) + ((try? arguments.decode(1, as: Int.self)) ?? 0))
            }
        }
        let result = try await run("upgrade-refused", guarded)
        XCTAssertEqual(result["transport"] as? String, "polling")
        XCTAssertEqual(result["whoami"] as? String, result["sid"] as? String)
        XCTAssertEqual(result["sum"] as? Int, 5)
    }

    func test_pythonClient_reconnects_afterTheServerRestarts() async throws {
        let io = try startSocketIOServer()
        let port = io.port
        let peer = try PythonPeer.start("sio_client.py", ["http://127.0.0.1:\(port)", "restart", "websocket"], for: self)
        try await peer.ready()
        await io.close(gracePeriod: .milliseconds(100))
        let restarted = try startServer { $0.port = port }
        restarted.onConnection { socket in socket.on("whoami") { (ack: Ack) in ack(socket.id) } }
        let result = try await peer.result()
        XCTAssertEqual((result["disconnects"] as? [String])?.count, 1)
        XCTAssertNotEqual(result["first"] as? String, result["second"] as? String)
        XCTAssertEqual(result["whoami"] as? String, result["second"] as? String)
    }

    func test_pythonClient_disconnectedByServer_doesNotReconnect() async throws {
        let io = try startSocketIOServer()
        let result = try await run("kicked", transports: "websocket", io)
        XCTAssertEqual(result["connected"] as? Bool, false)
        XCTAssertEqual((result["disconnects"] as? [String])?.count, 1)
    }
}
