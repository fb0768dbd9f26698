import Foundation
import Parley
import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import ParleyClient

/// ParleyClient and the Parley server over TLS (`wss://`), both sides real, with the throw-away
/// certificates of ``TestCertificates``: traffic, reconnection, mutual TLS and every refusal.
final class ClientTLSTests: XCTestCase {
    private func certificates() throws -> TestCertificates { try TestCertificates.shared() }

    /// A Parley server serving `pair` (the test server certificate by default).
    private func startTLSServer(port: Int = 0, pair: TestCertificates.Pair? = nil,
                                _ configure: (inout Server.Configuration) -> Void = { _ in }) throws -> Server {
        let certificates = try certificates()
        let pair = pair ?? certificates.server
        return try startServer(port: port) { configuration in
            configuration.tls = .server(certificateChain: .file(pair.certificate), privateKey: .file(pair.key))
            configure(&configuration)
        }
    }

    /// Client options trusting the test CA only.
    private func trustingTestCA(_ options: inout Client.Options) {
        let ca = (try? certificates().ca) ?? "/nonexistent"
        options.tls = TLSConfiguration(trust: .certificateAuthorities(.file(ca)))
    }

    private func secureURL(_ io: Server, host: String = "localhost") -> String {
        "wss://\(host):\(io.port)/parley"
    }

    func test_client_exchangesEventsAcksAndBroadcasts_overTLS() async throws {
        let io = try startTLSServer { $0.maxPayload = 1 << 20 }
        let secure = Mailbox<Bool>()
        io.onConnection { socket in
            secure.put(socket.handshake.secure)
            socket.on("echo") { (data: RawJSON, ack: Ack) in ack(data) }
            socket.on("shout") { (text: String) in try? socket.broadcast.emit("shout", text) }
            socket.on("big") { (text: String) in try? socket.emit("big", text) }
        }
        let (first, firstLog) = makeClient(secureURL(io), trustingTestCA)
        let (second, secondLog) = makeClient(secureURL(io, host: "127.0.0.1"), trustingTestCA)
        let shouts = Mailbox<String>()
        let bigs = Mailbox<String>()
        second.on("shout") { (text: String) in shouts.put(text) }
        first.on("big") { (text: String) in bigs.put(text) }
        first.connect()
        second.connect()
        try await firstLog.expect(.connect)
        try await secondLog.expect(.connect)
        let flags = [try await secure.expect("handshake.secure"), try await secure.expect("handshake.secure")]
        XCTAssertEqual(flags, [true, true])

        let answer = try await first.emitWithAck("echo", Chat(text: "over TLS", count: 7), as: Chat.self)
        XCTAssertEqual(answer, Chat(text: "over TLS", count: 7))
        try first.emit("shout", "hello everyone")
        let shout = try await shouts.expect("the broadcast")
        XCTAssertEqual(shout, "hello everyone")

        // Messages of about 1 MiB, both ways: many records per message, partial writes.
        let big = String(repeating: "0123456789abcdef", count: 65_000)
        try first.emit("big", big)
        let back = try await bigs.expect("the 1 MiB echo", timeout: .seconds(20))
        XCTAssertEqual(back.count, big.count)
        XCTAssertEqual(back, big)
    }

    func test_client_reconnects_afterTLSServerRestartsOnSamePort() async throws {
        let first = try startTLSServer()
        let port = first.port
        let (client, log) = makeClient(secureURL(first), trustingTestCA)
        client.connect()
        try await log.expect(.connect)
        await first.close(gracePeriod: .milliseconds(200))
        try await log.expect(.disconnect(reason: .transportClose))

        let second = try startTLSServer(port: port)
        installHandlers(on: second.main)
        _ = try await log.skip(until: "reconnect", timeout: .seconds(10)) {
            if case .reconnect = $0 { return true }
            return false
        }
        try await log.expect(.connect)
        let answer = try await client.emitWithAck("echo", "after restart", as: String.self)
        XCTAssertEqual(answer, "after restart")
    }

    func test_client_connects_withClientCertificate_whenServerRequiresOne() async throws {
        let certificates = try certificates()
        let io = try startTLSServer { configuration in
            configuration.tls?.clientCertificateRequired = true
            configuration.tls?.trust = .certificateAuthorities(.file(certificates.ca))
        }
        installHandlers(on: io.main)
        let (client, log) = makeClient(secureURL(io)) { options in
            options.tls = TLSConfiguration(certificateChain: .file(certificates.client.certificate),
                                           privateKey: .file(certificates.client.key),
                                           trust: .certificateAuthorities(.file(certificates.ca)))
        }
        client.connect()
        try await log.expect(.connect)
        let answer = try await client.emitWithAck("echo", "mutual", as: String.self)
        XCTAssertEqual(answer, "mutual")
    }

    func test_client_reportsConnectError_whenServerRequiresCertificateItLacksOrDistrusts() async throws {
        let certificates = try certificates()
        let io = try startTLSServer { configuration in
            configuration.tls?.clientCertificateRequired = true
            configuration.tls?.trust = .certificateAuthorities(.file(certificates.ca))
        }
        let (bare, bareLog) = makeClient(secureURL(io)) { options in
            self.trustingTestCA(&options)
            options.reconnection = false
        }
        bare.connect()
        guard case .connectError(let message, _) = try await bareLog.next() else { return XCTFail("expected connect_error") }
        XCTAssertTrue(message.contains("certificate"), message)

        let (untrusted, untrustedLog) = makeClient(secureURL(io)) { options in
            options.tls = TLSConfiguration(certificateChain: .file(certificates.untrustedClient.certificate),
                                           privateKey: .file(certificates.untrustedClient.key),
                                           trust: .certificateAuthorities(.file(certificates.ca)))
            options.reconnection = false
        }
        untrusted.connect()
        guard case .connectError(let refused, _) = try await untrustedLog.next() else { return XCTFail("expected connect_error") }
        XCTAssertTrue(refused.contains("unknown ca") || refused.contains("certificate"), refused)
        XCTAssertEqual(io.clientCount, 0)
    }

    /// Connects once with reconnection off and returns the `connect_error` message.
    private func connectError(_ url: String, _ configure: @escaping (inout Client.Options) -> Void = { _ in },
                              file: StaticString = #filePath, line: UInt = #line) async throws -> String {
        let (client, log) = makeClient(url) { options in
            options.reconnection = false
            configure(&options)
        }
        client.connect()
        let event = try await log.next(timeout: .seconds(10), file: file, line: line)
        guard case .connectError(let message, _) = event else {
            XCTFail("expected connect_error, got \(event)", file: file, line: line)
            return ""
        }
        return message
    }

    func test_client_refusesServer_whoseCertificateIsNotFromATrustedCA() async throws {
        let io = try startTLSServer()
        // The system's CAs only: the test CA is not among them.
        let message = try await connectError(secureURL(io))
        XCTAssertTrue(message.contains("not issued by a trusted CA"), message)
    }

    func test_client_refusesServer_withExpiredCertificate() async throws {
        let io = try startTLSServer(pair: try certificates().expired)
        let message = try await connectError(secureURL(io), trustingTestCA)
        XCTAssertTrue(message.contains("certificate has expired"), message)
    }

    func test_client_refusesServer_whoseCertificateNamesAnotherHost() async throws {
        let io = try startTLSServer(pair: try certificates().wrongHost)
        let message = try await connectError(secureURL(io), trustingTestCA)
        XCTAssertTrue(message.contains("host name mismatch: expected localhost"), message)
        let byAddress = try await connectError(secureURL(io, host: "127.0.0.1"), trustingTestCA)
        XCTAssertTrue(byAddress.contains("IP address mismatch: expected 127.0.0.1"), byAddress)
    }

    func test_client_connects_withVerificationOffForLocalDevelopment() async throws {
        let io = try startTLSServer(pair: try certificates().wrongHost)
        let (client, log) = makeClient(secureURL(io)) { options in
            options.tls = TLSConfiguration(certificateVerification: .insecureNoVerificationForLocalDevelopment)
        }
        client.connect()
        try await log.expect(.connect)
    }

    func test_client_failsClearly_onPlaintextServerWithWSSURL() async throws {
        let io = try startServer()
        let message = try await connectError("wss://127.0.0.1:\(io.port)/parley", trustingTestCA)
        XCTAssertTrue(message.contains("does not speak TLS"), message)
    }

    func test_client_failsClearly_onTLSServerWithWSURL() async throws {
        let io = try startTLSServer()
        let message = try await connectError("ws://127.0.0.1:\(io.port)/parley")
        XCTAssertTrue(message.contains("use wss://"), message)
    }

    func test_client_backsOff_afterCertificateError() async throws {
        let io = try startTLSServer(pair: try certificates().expired)
        let (client, log) = makeClient(secureURL(io)) { options in
            self.trustingTestCA(&options)
            options.reconnectionDelay = .milliseconds(400)
            options.reconnectionDelayMax = .milliseconds(400)
            options.randomizationFactor = 0
        }
        // The first attempt fails after connect() is called; the retry waits 400 ms after that.
        let started = ContinuousClock.now
        client.connect()
        guard case .connectError = try await log.next() else { return XCTFail("expected connect_error") }
        try await log.expect(.reconnectAttempt(1))
        XCTAssertGreaterThanOrEqual(secondsSince(started), 0.39, "the retry must wait for the backoff")
        guard case .connectError = try await log.next() else { return XCTFail("expected connect_error") }
        guard case .reconnectError(.transport(.tls(let error))) = try await log.next() else { return XCTFail("expected reconnect_error") }
        XCTAssertEqual(error, .certificateVerificationFailed)
        XCTAssertTrue(error.message.contains("expired"), error.message)
    }
}
