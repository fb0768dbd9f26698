import Foundation
import Parley
import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import ParleyClient

/// TLS against peers nobody here wrote: ParleyClient against a Node `ws` server on Node's https
/// server and against Python `websockets` with `ssl`; Python `websockets` against the Parley
/// server over `wss://`.
final class ClientTLSPeerTests: XCTestCase {
    private func trusting(_ certificates: TestCertificates) -> (inout Client.Options) -> Void {
        { $0.tls = TLSConfiguration(trust: .certificateAuthorities(.file(certificates.ca))) }
    }

    /// Connects a ParleyClient to the envelope peer on `port`, checks an ack and an echo.
    private func exchange(withPeerOn port: Int, _ certificates: TestCertificates, expectID prefix: String) async throws {
        let (client, log) = makeClient("wss://localhost:\(port)/", trusting(certificates))
        let echoes = Mailbox<String>()
        client.on("echo") { (text: String) in echoes.put(text) }
        client.connect()
        try await log.expect(.connect)
        XCTAssertTrue(client.id?.hasPrefix(prefix) ?? false, "\(String(describing: client.id))")
        let answer = try await client.emitWithAck("echo", Chat(text: "through TLS", count: 3), as: Chat.self)
        XCTAssertEqual(answer, Chat(text: "through TLS", count: 3))
        let big = String(repeating: "x", count: 300_000)
        try client.emit("echo", big)
        let echoed = try await echoes.expect("the echo")
        XCTAssertEqual(echoed, big)
    }

    func test_client_talksToNodeWSOverTLS() async throws {
        let certificates = try TestCertificates.shared()
        let peer = try ChildPeer.start(try ChildPeer.node(), "ws_tls_echo.js", [certificates.server.certificate, certificates.server.key], for: self)
        let port = try await peer.port()
        try await exchange(withPeerOn: port, certificates, expectID: "node-ws-")
    }

    func test_client_talksToPythonWebsocketsOverTLS() async throws {
        let certificates = try TestCertificates.shared()
        let peer = try ChildPeer.start(try ChildPeer.pythonWithWebsockets(), "ws_tls_peer.py",
                                       ["server", certificates.server.certificate, certificates.server.key], for: self)
        let port = try await peer.port()
        try await exchange(withPeerOn: port, certificates, expectID: "python-")
    }

    func test_client_refusesNodeWSServer_withCertificateOfAnotherHost() async throws {
        let certificates = try TestCertificates.shared()
        let peer = try ChildPeer.start(try ChildPeer.node(), "ws_tls_echo.js",
                                       [certificates.wrongHost.certificate, certificates.wrongHost.key], for: self)
        let port = try await peer.port()
        let (client, log) = makeClient("wss://localhost:\(port)/") { options in
            self.trusting(certificates)(&options)
            options.reconnection = false
        }
        client.connect()
        guard case .connectError(let message, _) = try await log.next() else { return XCTFail("expected connect_error") }
        XCTAssertTrue(message.contains("host name mismatch: expected localhost"), message)
    }

    func test_pythonWebsockets_talksToParleyServerOverWSS() async throws {
        let certificates = try TestCertificates.shared()
        let io = try startServer { configuration in
            configuration.tls = .server(certificateChain: .file(certificates.server.certificate), privateKey: .file(certificates.server.key))
        }
        installHandlers(on: io.main)
        let peer = try ChildPeer.start(try ChildPeer.pythonWithWebsockets(), "ws_tls_peer.py",
                                       ["client", "wss://localhost:\(io.port)/parley", certificates.ca], for: self)
        let line = try await peer.result()
        XCTAssertTrue(line.hasPrefix("RESULT "), line)
        let result = try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any]
        XCTAssertEqual((result?["ack"] as? [String: String])?["from"], "python")
        XCTAssertEqual((result?["connect"] as? String)?.count, 22)
        XCTAssertEqual(result?["tls"] as? String, "TLSv1.3")
    }
}
