import Foundation
import TestSupport
import XCTest

/// `parley-server` serves Socket.IO clients with the relay events, and `--token` takes the
/// token from the query or from the Socket.IO `auth` payload: python-socketio clients
/// (Peers/sio_relay_client.py, run with PARLEY_PYTHON) against the real binary.
final class RelaySocketIOTests: XCTestCase {
    private func run(_ mode: String, token: String) async throws -> [String: Any] {
        _ = try PythonPeer.interpreter()
        let relay = try await ChildProcess.start("parley-server", ["--port", "0", "--token", "s3cret", "--loops", "1"], for: self)
        let peer = try PythonPeer.start("sio_relay_client.py", ["http://127.0.0.1:\(relay.port)", token, mode], for: self)
        return try await peer.result()
    }

    private func json(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }

    func test_relay_servesSocketIOClients_withTokenInAuthPayload() async throws {
        let result = try await run("auth", token: "s3cret")
        XCTAssertEqual(try json(result["echo_ack"] ?? NSNull()), #"{"x":1}"#)
        XCTAssertEqual(try json(result["echo_event"] ?? NSNull()), #"["echo",["hi"]]"#)
        XCTAssertEqual(try json(result["joins"] ?? NSNull()), "[null,null]")
        XCTAssertEqual(try json(result["room_event"] ?? NSNull()), #"["room",[{"room":"r","text":"t"}]]"#)
        XCTAssertEqual(try json(result["broadcast_event"] ?? NSNull()), #"["broadcast",["b"]]"#)
        XCTAssertEqual(try json(result["all_events"] ?? NSNull()), #"[["all",["x"]],["all",["x"]]]"#)
        XCTAssertEqual(try json(result["after_leave"] ?? NSNull()), #"["all",["last"]]"#)
    }

    func test_relay_acceptsSocketIOClient_withTokenInQuery() async throws {
        let result = try await run("query", token: "s3cret")
        XCTAssertEqual(try json(result["echo_ack"] ?? NSNull()), #"{"x":1}"#)
    }

    func test_relay_refusesSocketIOClient_withWrongToken() async throws {
        for mode in ["auth", "query"] {
            let result = try await run(mode, token: "s3cre")
            let refusals = try XCTUnwrap(result["refused"] as? [[String: Any]], mode)
            XCTAssertEqual(refusals.first?["message"] as? String, "unauthorized", mode)
        }
    }
}
