import Foundation
import RedisTestSupport
import TestSupport
import XCTest

/// Two `parley-server` nodes on one real redis-server: an event a Socket.IO client sends with
/// several arguments reaches Socket.IO clients of the other node with the same arguments, not
/// as one array (python-socketio clients, Peers/sio_cluster_client.py).
final class RelayClusterSocketIOTests: XCTestCase {
    private func json(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }

    func test_relayCluster_severalArguments_reachSocketIOClientsOfOtherNodeAsSent() async throws {
        _ = try PythonPeer.interpreter()
        let redis = try startRedis()
        let a = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1", "--redis", redis.url], for: self)
        let b = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1", "--redis", redis.url], for: self)
        let peer = try PythonPeer.start("sio_cluster_client.py", ["http://127.0.0.1:\(a.port)", "http://127.0.0.1:\(b.port)"], for: self)
        let result = try await peer.result()
        let attempt = try XCTUnwrap(result["attempt"] as? Int, "\(result)")
        XCTAssertEqual(try json(result["remote_broadcast"] ?? NSNull()), #"["broadcast",[\#(attempt),"two",{"three":3}]]"#)
        XCTAssertEqual(try json(result["remote_all"] ?? NSNull()), #"["all",["x",[1,2]]]"#)
        XCTAssertEqual(try json(result["local_all"] ?? NSNull()), #"["all",["x",[1,2]]]"#)
    }
}
