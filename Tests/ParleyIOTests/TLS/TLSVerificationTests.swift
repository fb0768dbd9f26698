import Glibc
import TestSupport
import XCTest
@_spi(IO) @testable import ParleyIO

/// Certificate checks, each failure with words a user can act on.
final class TLSVerificationTests: XCTestCase {
    /// The client's handshake error against a server presenting `pair`, and the server's outcome.
    private func failure(server pair: TestCertificates.Pair? = nil, client: TLSConfiguration? = nil,
                         serverName: String = "localhost", host: String = "127.0.0.1",
                         file: StaticString = #filePath, line: UInt = #line) throws -> (client: TLSError, server: TLSConnection.HandshakeOutcome) {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair(server: fixture.serverConfiguration(pair), client: client,
                                                      serverName: serverName, host: host)
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        let outcome = TLSLoopback.handshake(clientTLS, serverTLS)
        let error = try XCTUnwrap(outcome.client.error, "the client accepted: \(outcome.client)", file: file, line: line)
        return (error, outcome.server)
    }

    func test_handshake_failsUntrustedCA_whenClientTrustsOnlyTheSystemStore() throws {
        let result = try failure(client: TLSConfiguration())
        XCTAssertEqual(result.client, .certificateVerificationFailed)
        XCTAssertTrue(result.client.message.contains("unable to get local issuer certificate"), result.client.message)
        XCTAssertTrue(result.client.message.contains("TLSConfiguration.trust"), result.client.message)
        // The client's alert reaches the server.
        XCTAssertEqual(result.server, .failed(.handshakeFailed))
        XCTAssertTrue(result.server.error?.message.contains("unknown ca") == true, "\(result.server)")
    }

    func test_handshake_failsUntrustedCA_whenClientTrustsAnotherCA() throws {
        let fixture = try TLSFixture()
        let result = try failure(client: TLSConfiguration(trust: .certificateAuthorities(.file(fixture.certificates.otherCA))))
        XCTAssertEqual(result.client, .certificateVerificationFailed)
        XCTAssertTrue(result.client.message.contains("not issued by a trusted CA"), result.client.message)
    }

    func test_handshake_failsExpired_whenServerCertificateHasExpired() throws {
        let fixture = try TLSFixture()
        let result = try failure(server: fixture.certificates.expired)
        XCTAssertEqual(result.client, .certificateVerificationFailed)
        XCTAssertTrue(result.client.message.hasPrefix("certificate verification failed: certificate has expired"), result.client.message)
    }

    func test_handshake_failsHostNameMismatch_whenCertificateNamesAnotherHost() throws {
        let fixture = try TLSFixture()
        let result = try failure(server: fixture.certificates.wrongHost)
        XCTAssertEqual(result.client, .certificateVerificationFailed)
        XCTAssertTrue(result.client.message.contains("host name mismatch: expected localhost"), result.client.message)
    }

    func test_handshake_failsHostNameMismatch_forAnotherNameOfTheSameServer() throws {
        let result = try failure(serverName: "otherhost")
        XCTAssertTrue(result.client.message.contains("host name mismatch: expected otherhost"), result.client.message)
    }

    func test_handshake_failsIPAddressMismatch_whenCertificateHasNoSuchIPName() throws {
        let fixture = try TLSFixture()
        let result = try failure(server: fixture.certificates.wrongHost, serverName: "127.0.0.1")
        XCTAssertEqual(result.client, .certificateVerificationFailed)
        XCTAssertTrue(result.client.message.contains("IP address mismatch: expected 127.0.0.1"), result.client.message)
    }

    func test_handshake_completes_whenIPv4LiteralMatchesAnIPName() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair(serverName: "127.0.0.1")
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        let outcome = TLSLoopback.handshake(clientTLS, serverTLS)
        XCTAssertEqual(outcome.client, .completed, "\(outcome.client)")
    }

    func test_handshake_completes_whenBracketedIPv6LiteralMatchesAnIPName() throws {
        let fixture = try TLSFixture()
        let pair: (client: TLSConnection, server: TLSConnection)
        do {
            pair = try fixture.pair(serverName: "[::1]", host: "::1")
        } catch let failure as TLSLoopback.Failure {
            throw XCTSkip("IPv6 loopback unavailable: \(failure)")
        }
        defer { pair.client.closeSocket(); pair.server.closeSocket() }
        let outcome = TLSLoopback.handshake(pair.client, pair.server)
        XCTAssertEqual(outcome.client, .completed, "\(outcome.client)")
    }

    func test_connection_throws_whenVerifyingClientHasNoServerName() throws {
        let fixture = try TLSFixture()
        let context = try TLSContext(configuration: fixture.clientConfiguration(), role: .client)
        XCTAssertThrowsError(try TLSConnection(context: context, fd: -1, serverName: nil)) { error in
            XCTAssertEqual(error as? TLSError, .invalidConfiguration)
            XCTAssertTrue((error as? TLSError)?.message.contains("host name") == true, "\(error)")
        }
    }

    // MARK: Mutual TLS

    private func mutualServer(_ fixture: TLSFixture) -> TLSConfiguration {
        var server = fixture.serverConfiguration()
        server.trust = .certificateAuthorities(.file(fixture.certificates.ca))
        server.clientCertificateRequired = true
        return server
    }

    func test_mutualTLS_accepts_clientWithCertificateFromTrustedCA() throws {
        let fixture = try TLSFixture()
        var client = fixture.clientConfiguration()
        client.certificateChain = .file(fixture.certificates.client.certificate)
        client.privateKey = .file(fixture.certificates.client.key)
        let (clientTLS, serverTLS) = try fixture.pair(server: mutualServer(fixture), client: client)
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        let outcome = TLSLoopback.handshake(clientTLS, serverTLS)
        XCTAssertEqual(outcome.client, .completed, "\(outcome.client)")
        XCTAssertEqual(outcome.server, .completed, "\(outcome.server)")
        XCTAssertEqual(TLSLoopback.transfer(Array("authenticated".utf8), from: clientTLS, to: serverTLS), Array("authenticated".utf8))
    }

    func test_mutualTLS_refuses_clientWithoutCertificate() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair(server: mutualServer(fixture))
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        let outcome = TLSLoopback.handshake(clientTLS, serverTLS)
        XCTAssertEqual(outcome.server, .failed(.handshakeFailed))
        XCTAssertTrue(outcome.server.error?.message.contains("the client sent no certificate") == true, "\(outcome.server)")
        // TLS 1.3: the client finishes first and learns of the refusal on its first read.
        let clientError: TLSError?
        if case .failed(let error) = outcome.client {
            clientError = error
        } else {
            clientError = TLSLoopback.read(clientTLS, count: 1).end?.error
        }
        XCTAssertTrue(clientError?.message.contains("requires a client certificate") == true, "\(String(describing: clientError))")
    }

    func test_mutualTLS_refuses_clientCertificateFromUntrustedCA() throws {
        let fixture = try TLSFixture()
        var client = fixture.clientConfiguration()
        client.certificateChain = .file(fixture.certificates.untrustedClient.certificate)
        client.privateKey = .file(fixture.certificates.untrustedClient.key)
        let (clientTLS, serverTLS) = try fixture.pair(server: mutualServer(fixture), client: client)
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        let outcome = TLSLoopback.handshake(clientTLS, serverTLS)
        XCTAssertEqual(outcome.server, .failed(.certificateVerificationFailed))
        XCTAssertTrue(outcome.server.error?.message.contains("not issued by a trusted CA") == true, "\(outcome.server)")
        let clientError = outcome.client.error ?? TLSLoopback.read(clientTLS, count: 1).end?.error
        XCTAssertTrue(clientError?.message.contains("does not trust the CA of our certificate") == true, "\(String(describing: clientError))")
    }
}
