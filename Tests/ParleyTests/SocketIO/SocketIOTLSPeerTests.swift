import Foundation
import ParleyProtocol
import TestSupport
import XCTest
@testable import Parley

/// Parley over https and wss against python-socketio's client (Tests/ParleyTests/Peers/sio_client.py),
/// which trusts only the test CA and checks the certificate's name.
final class SocketIOTLSPeerTests: XCTestCase {
    /// A TLS server with the handlers the peer's scenarios use.
    private func startTLSServer(_ certificates: TestCertificates) throws -> Server {
        let io = try startServer { configuration in
            configuration.tls = .server(certificateChain: .file(certificates.server.certificate),
                                        privateKey: .file(certificates.server.key))
        }
        io.onConnection { socket in
            socket.on("whoami") { (ack: Ack) in ack(socket.id) }
            socket.on("add") { (arguments: EventArguments, ack: Ack) in
                ack(((try? arguments.decode(0, as: Int.self)) ?? 0) + ((try? arguments.decode(1, as: Int.self)) ?? 0))
            }
            socket.on("ask") { (text: String) in
                Task {
                    let reply: String = (try? await socket.emitWithAck("question", text)) ?? "no answer"
                    try? socket.emit("answer", reply)
                }
            }
        }
        return io
    }

    private func run(_ scenario: String, _ io: Server, _ certificates: TestCertificates) async throws -> [String: Any] {
        let peer = try PythonPeer.start("sio_client.py", ["https://127.0.0.1:\(io.port)", scenario, "default", certificates.ca], for: self)
        return try await peer.result()
    }

    func test_pythonClient_pollsOverHTTPS_andUpgradesToWSS() async throws {
        let certificates = try TestCertificates.shared()
        let io = try startTLSServer(certificates)
        let result = try await run("connect", io, certificates)
        XCTAssertEqual(result["transport"] as? String, "websocket")
        let sid = try XCTUnwrap(result["sid"] as? String)
        XCTAssertEqual(result["whoami"] as? String, sid, "the ack answers over wss after the upgrade")
    }

    func test_pythonClient_exchangesEventsAndAcksBothWays_overTLS() async throws {
        let certificates = try TestCertificates.shared()
        let io = try startTLSServer(certificates)
        let result = try await run("acks", io, certificates)
        XCTAssertEqual(result["sum"] as? Int, 5)
        let answer = try XCTUnwrap(result["answer"] as? [Any])
        XCTAssertEqual(answer[0] as? String, "answer")
        XCTAssertEqual(answer[1] as? [String], ["pong:ping"])
    }

    func test_pythonClient_refusesServer_whenItDoesNotTrustTheCA() async throws {
        let certificates = try TestCertificates.shared()
        let io = try startTLSServer(certificates)
        // The other CA signed nothing this server presents: the client must not connect.
        let peer = try PythonPeer.start("sio_client.py", ["https://127.0.0.1:\(io.port)", "connect", "default", certificates.otherCA], for: self)
        do {
            let result = try await peer.result()
            XCTFail("connected without trusting the server's CA: \(result)")
        } catch {
            XCTAssertTrue("\(error)".contains("ConnectionError"), "\(error)")
        }
    }
}
