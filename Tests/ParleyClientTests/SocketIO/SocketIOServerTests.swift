import Foundation
import ParleyClient
import ParleyProtocol
import TestSupport
import XCTest

/// ParleyClient in Socket.IO mode against python-socketio's AsyncServer (a server nobody here
/// wrote): Tests/ParleyClientTests/Peers/sio_server.py, run with PARLEY_PYTHON.
final class SocketIOServerTests: XCTestCase {
    /// Starts the peer server (on `port`, 0 for any) and returns it with its port.
    private func startPeer(port: Int = 0) async throws -> (PythonPeer, Int) {
        let peer = try PythonPeer.start("sio_server.py", [String(port)], for: self)
        guard let found = Int(try await peer.ready()) else { throw PeerError("no port from the peer") }
        return (peer, found)
    }

    /// A Socket.IO client of the peer on `port`, not connected yet.
    private func makeSocketIOClient(port: Int, auth: String? = #"{"token":"good"}"#,
                                    _ configure: (inout Client.Options) -> Void = { _ in }) throws -> (Client, EventLog) {
        let authJSON = try auth.map { try RawJSON(json: $0) }
        return makeClient("http://127.0.0.1:\(port)") { options in
            options.protocol = .socketIO
            options.socketIOAuth = authJSON
            configure(&options)
        }
    }

    private func json(_ text: String) throws -> RawJSON { try RawJSON(json: text) }

    /// The JSON after `prefix` in a peer line, re-serialised with sorted keys for comparison.
    private func normalised(_ line: String, after prefix: String) throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(line.dropFirst(prefix.count).utf8), options: .fragmentsAllowed)
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }

    func test_socketIOClient_connectsWithAuth_andGetsItsSid() async throws {
        let (peer, port) = try await startPeer()
        let (client, log) = try makeSocketIOClient(port: port)
        client.connect()
        try await log.expect(.connect)
        let line = try await peer.line(startingWith: "CONNECT / ")
        XCTAssertEqual(try normalised(line, after: "CONNECT / "), #"{"token":"good"}"#)
        let id = try XCTUnwrap(client.id)
        let whoami: String = try await client.emitWithAck("whoami")
        XCTAssertEqual(whoami, id)
        XCTAssertEqual(client.pingInterval, .seconds(1))
        XCTAssertEqual(client.pingTimeout, .seconds(1))
    }

    func test_socketIOClient_refusedByConnectHandler_getsMessageAndData_andStaysDisconnected() async throws {
        let (_, port) = try await startPeer()
        let (client, log) = try makeSocketIOClient(port: port, auth: #"{"token":"bad"}"#)
        client.connect()
        try await log.expect(.connectError(message: "unauthorized", data: try json(#"{"reason":"bad token"}"#)))
        XCTAssertFalse(client.isActive)
        await log.expectSilence(for: .milliseconds(300))
    }

    func test_socketIOClient_eventsWithZeroToThreeArguments_bothWays() async throws {
        let (peer, port) = try await startPeer()
        let (client, log) = try makeSocketIOClient(port: port)
        let echoed = Mailbox<String>()
        let given = Mailbox<String>()
        let typed = Mailbox<String>()
        client.on("echo") { (arguments: EventArguments) in echoed.put("\(arguments.count) \(arguments.array)") }
        client.on("given") { (arguments: EventArguments) in given.put("\(arguments.count) \(arguments.array)") }
        client.on("given") { (one: Int, two: String) in typed.put("2: \(one) \(two)") }
        client.on("given") { (one: Int, two: String, three: [String: Int]) in typed.put("3: \(one) \(two) \(three)") }
        client.connect()
        try await log.expect(.connect)
        let values = [try json("1"), try json(#""two""#), try json(#"{"three":3}"#)]
        let arrays = ["[]", "[1]", #"[1,"two"]"#, #"[1,"two",{"three":3}]"#]
        for count in 0...3 {
            try client.emit("echo", EventArguments(Array(values.prefix(count))))
            let line = try await peer.line(startingWith: "RECEIVED echo ")
            XCTAssertEqual(try normalised(line, after: "RECEIVED echo "), arrays[count])
            let back = try await echoed.expect("echo with \(count) arguments")
            XCTAssertEqual(back, "\(count) \(arrays[count])")
        }
        for count in 0...3 {
            try client.emit("give", count)
            let got = try await given.expect("given with \(count) arguments")
            XCTAssertEqual(got, "\(count) \(arrays[count])")
        }
        // Typed handlers run once their arguments are there (extra ones are ignored, as in JavaScript).
        var typedCalls: [String] = []
        for _ in 0..<3 { typedCalls.append(try await typed.expect("a typed handler call")) }
        XCTAssertEqual(typedCalls, ["2: 1 two", "2: 1 two", #"3: 1 two ["three": 3]"#])
    }

    func test_socketIOClient_acksBothWays() async throws {
        let (peer, port) = try await startPeer()
        let (client, log) = try makeSocketIOClient(port: port)
        let answers = Mailbox<String>()
        client.on("question") { (text: String, ack: Client.Ack) in ack("pong:" + text) }
        client.on("pair") { (arguments: EventArguments, ack: Client.Ack) in
            ack(EventArguments([arguments[1] ?? .null, arguments[0] ?? .null]))
        }
        client.on("answer") { (arguments: EventArguments) in answers.put(arguments.array.description) }
        client.connect()
        try await log.expect(.connect)

        // Client to server: the ack's arguments come back as sent (several as their array).
        let none: RawJSON = try await client.emitWithAck("call")
        XCTAssertEqual(none, .null)
        let one: Int = try await client.emitWithAck("call", 5)
        XCTAssertEqual(one, 5)
        let two: [RawJSON] = try await client.emitWithAck("call", EventArguments([try json("2"), try json(#""x""#)]))
        XCTAssertEqual(two, [try json("2"), try json(#""x""#)])

        // Server to client: one argument, then two.
        try client.emit("ask", EventArguments([try json(#""question""#), try json(#""ping""#)]))
        let answer = try await answers.expect("the answer to question")
        XCTAssertEqual(answer, #"["pong:ping"]"#)
        try client.emit("ask", EventArguments([try json(#""pair""#), try json("1"), try json(#""b""#)]))
        let pairLine = try await peer.line(startingWith: "ANSWERED pair ")
        XCTAssertEqual(try normalised(pairLine, after: "ANSWERED pair "), #"["b",1]"#)
        let pair = try await answers.expect("the answer to pair")
        XCTAssertEqual(pair, #"["b",1]"#)
    }

    func test_socketIOClient_binaryBothWays_asAttachments() async throws {
        let (peer, port) = try await startPeer()
        let (client, log) = try makeSocketIOClient(port: port)
        let reversed = Mailbox<Data>()
        client.on("bin") { (data: Data) in reversed.put(data) }
        client.on("binq") { (data: Data, ack: Client.Ack) in ack(Data(data.map { $0 ^ 0xFF })) }
        client.connect()
        try await log.expect(.connect)
        let payload = Data((0..<1024).map { UInt8($0 % 256) })

        // The server sees bytes (an attachment, not a base64 string) and answers with bytes.
        let acked: Data = try await client.emitWithAck("bin", payload)
        XCTAssertEqual(acked, payload)
        let line = try await peer.line(startingWith: "RECEIVED bin ")
        XCTAssertEqual(try normalised(line, after: "RECEIVED bin "), #"[{"bytes":1024}]"#)
        let back = try await reversed.expect("bin")
        XCTAssertEqual(back, Data(payload.reversed()))

        // An ack with Data goes back as an attachment too.
        try client.emit("ask", EventArguments([try json(#""binq""#), try RawJSON(encoding: Data([1, 2, 3]))]))
        let answered = try await peer.line(startingWith: "ANSWERED binq ")
        XCTAssertEqual(try normalised(answered, after: "ANSWERED binq "), #"[{"bytes":3}]"#)
    }

    func test_socketIOClient_joinsANamespace_withItsOwnAuth() async throws {
        let (peer, port) = try await startPeer()
        let (admin, adminLog) = try makeSocketIOClient(port: port, auth: #"{"role":"admin"}"#) { $0.namespace = "/admin" }
        admin.connect()
        try await adminLog.expect(.connect)
        let line = try await peer.line(startingWith: "CONNECT /admin ")
        XCTAssertEqual(try normalised(line, after: "CONNECT /admin "), #"{"role":"admin"}"#)
        let whoami: String = try await admin.emitWithAck("whoami")
        XCTAssertEqual(whoami, "admin:" + (admin.id ?? "?"))

        let (user, userLog) = try makeSocketIOClient(port: port, auth: #"{"role":"user"}"#) { $0.namespace = "admin" }
        user.connect()
        try await userLog.expect(.connectError(message: "admins only", data: try json(#"{"role":"user"}"#)))
        XCTAssertFalse(user.isActive)
        XCTAssertTrue(admin.isConnected)
    }

    func test_socketIOClient_unknownNamespace_isRefused() async throws {
        let (_, port) = try await startPeer()
        let (client, log) = try makeSocketIOClient(port: port) { $0.namespace = "/nowhere" }
        client.connect()
        let event = try await log.next()
        guard case .connectError(let message, _) = event else { return XCTFail("expected connect_error, got \(event)") }
        XCTAssertFalse(message.isEmpty)
        XCTAssertFalse(client.isActive)
    }

    func test_socketIOClient_disconnectedByServer_doesNotReconnect() async throws {
        let (peer, port) = try await startPeer()
        let (client, log) = try makeSocketIOClient(port: port)
        client.connect()
        try await log.expect(.connect)
        try client.emit("kick")
        try await log.expect(.disconnect(reason: .ioServerDisconnect))
        _ = try await peer.line(startingWith: "DISCONNECT / ")
        XCTAssertFalse(client.isActive)
        await log.expectSilence(for: .milliseconds(300))
    }

    func test_socketIOClient_disconnect_tellsTheServer() async throws {
        let (peer, port) = try await startPeer()
        let (client, log) = try makeSocketIOClient(port: port)
        client.connect()
        try await log.expect(.connect)
        client.disconnect()
        try await log.expect(.disconnect(reason: .ioClientDisconnect))
        let line = try await peer.line(startingWith: "DISCONNECT / ")
        XCTAssertTrue(line.contains("client"), line)
    }

    func test_socketIOClient_answersPings_andStaysConnected() async throws {
        let (_, port) = try await startPeer()
        let (client, log) = try makeSocketIOClient(port: port)
        client.connect()
        try await log.expect(.connect)
        let id = client.id
        // The server pings every second and drops a client silent for a second more: an answer
        // after 3.5 s on the same connection means the client answered every ping.
        let late: String = try await client.emitWithAck("late", 3.5, timeout: .seconds(6))
        XCTAssertEqual(late, "late")
        XCTAssertEqual(client.id, id)
        XCTAssertTrue(log.events.pending.isEmpty, "\(log.events.pending)")
    }

    func test_socketIOClient_reconnects_afterTheServerRestarts_andFlushesItsBuffer() async throws {
        let (peer, port) = try await startPeer()
        let (client, log) = try makeSocketIOClient(port: port)
        client.connect()
        try await log.expect(.connect)
        let firstID = client.id
        try await peer.stop()
        let lost = try await log.next()
        guard case .disconnect(let reason) = lost, reason.reconnects else { return XCTFail("expected a disconnect that reconnects, got \(lost)") }
        XCTAssertEqual(try client.emit("echo", "while away"), .buffered)

        let (restarted, _) = try await startPeer(port: port)
        _ = try await log.skip(until: "reconnect", timeout: .seconds(10)) { if case .reconnect = $0 { true } else { false } }
        try await log.expect(.connect)
        XCTAssertNotEqual(client.id, firstID)
        let line = try await restarted.line(startingWith: "RECEIVED echo ")
        XCTAssertEqual(try normalised(line, after: "RECEIVED echo "), #"["while away"]"#)
        let whoami: String = try await client.emitWithAck("whoami")
        XCTAssertEqual(whoami, client.id)
    }
}
