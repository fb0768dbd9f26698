import Foundation
import Parley
import ParleyClient
import TestSupport
import XCTest

/// The README's nginx recipe in front of a Parley server: nginx terminates TLS, a ParleyClient
/// connects through it over `wss://`, and the server believes nginx's `X-Forwarded-For` and
/// `X-Forwarded-Proto` only when nginx is one of its trusted proxies. nginx connects to the server
/// from 127.0.0.3 (`proxy_bind`), the client from 127.0.0.1, so the two are told apart.
final class NginxProxyTests: XCTestCase {
    private struct Seen: Sendable, Equatable {
        let address: String
        let secure: Bool
    }

    /// A server trusting `trustedProxies`, nginx in front of it, and what a client's handshake shows.
    private func connectThroughNginx(trustedProxies: [String]) async throws -> Seen {
        let certificates = try TestCertificates.shared()
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0, path: "/parley")
        configuration.loopCount = 1
        configuration.trustedProxies = trustedProxies
        configuration.logger = .disabled
        let io = Server(configuration)
        let seen = Mailbox<Seen>()
        io.onConnection { socket in
            seen.put(Seen(address: socket.handshake.address, secure: socket.handshake.secure))
            socket.on("echo") { (text: String, ack: Ack) in ack(text) }
        }
        try io.start()
        addTeardownBlock { await io.close(gracePeriod: .milliseconds(200)) }
        let nginx = try Nginx.start(upstream: io.port, certificate: certificates.server.certificate, key: certificates.server.key,
                                    bind: "127.0.0.3", for: self)

        var options = Client.Options()
        options.autoConnect = false
        options.tls = TLSConfiguration(trust: .certificateAuthorities(.file(certificates.ca)))
        options.logger = .disabled
        let client = Client(url: "wss://localhost:\(nginx.port)/parley", options: options)
        addTeardownBlock { client.disconnect() }
        let connected = Mailbox<Bool>()
        client.on(.connect) { connected.put(true) }
        client.connect()
        _ = try await connected.expect("connect through nginx", timeout: .seconds(10))
        let answer = try await client.emitWithAck("echo", "through nginx", as: String.self)
        XCTAssertEqual(answer, "through nginx")
        return try await seen.expect("the server's view of the handshake")
    }

    func test_clientThroughNginx_connects_andIsSeenAsItself_whenNginxIsTrusted() async throws {
        let seen = try await connectThroughNginx(trustedProxies: ["127.0.0.3"])
        XCTAssertEqual(seen, Seen(address: "127.0.0.1", secure: true))
    }

    func test_clientThroughNginx_isSeenAsNginx_whenNginxIsNotTrusted() async throws {
        let seen = try await connectThroughNginx(trustedProxies: [])
        XCTAssertTrue(seen.address.hasPrefix("127.0.0.3:"), seen.address)
        XCTAssertFalse(seen.secure, "nginx to the server is plain HTTP; its header is not believed")
    }
}
