import TestSupport
import Foundation
import XCTest
@_spi(IO) @testable import ParleyIO

/// Building contexts: PEM from files and bytes, and configuration mistakes named clearly.
final class TLSContextTests: XCTestCase {
    private func message(_ configuration: TLSConfiguration, role: TLSContext.Role,
                         file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try TLSContext(configuration: configuration, role: role)
            XCTFail("the context was made", file: file, line: line)
            return ""
        } catch {
            XCTAssertEqual(error, .invalidConfiguration, file: file, line: line)
            return error.message
        }
    }

    private func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func test_context_loadsChainKeyAndTrust_fromPEMBytes() throws {
        let fixture = try TLSFixture()
        let certificates = fixture.certificates
        let server = TLSConfiguration.server(certificateChain: .bytes(try bytes(certificates.server.certificate)),
                                             privateKey: .bytes(try bytes(certificates.server.key)))
        let client = TLSConfiguration(trust: .certificateAuthorities(.string(String(decoding: try bytes(certificates.ca), as: UTF8.self))))
        let (clientTLS, serverTLS) = try fixture.pair(server: server, client: client)
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        XCTAssertEqual(TLSLoopback.handshake(clientTLS, serverTLS).client, .completed)
    }

    func test_context_sendsTheIntermediates_ofAChainFromPEMBytes() throws {
        // The "CA" of a chain is presented too: a client trusting only the CA still verifies.
        let fixture = try TLSFixture()
        let certificates = fixture.certificates
        let chain = try bytes(certificates.server.certificate) + bytes(certificates.ca)
        let server = TLSConfiguration.server(certificateChain: .bytes(chain), privateKey: .file(certificates.server.key))
        let (clientTLS, serverTLS) = try fixture.pair(server: server)
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        XCTAssertEqual(TLSLoopback.handshake(clientTLS, serverTLS).client, .completed)
    }

    func test_context_throwsNamingTheFile_whenCertificateFileIsMissing() {
        let text = message(.server(certificateChain: .file("/nonexistent/cert.pem"), privateKey: .file("/nonexistent/key.pem")), role: .server)
        XCTAssertEqual(text, "cannot read the certificate chain file /nonexistent/cert.pem: No such file or directory")
    }

    func test_context_throws_whenServerHasNoCertificate() {
        XCTAssertEqual(message(TLSConfiguration(), role: .server), "a TLS server needs a certificate chain and its private key")
    }

    func test_context_throws_whenKeyDoesNotMatchCertificate() throws {
        let certificates = try TestCertificates.shared()
        let text = message(.server(certificateChain: .file(certificates.server.certificate), privateKey: .file(certificates.client.key)), role: .server)
        XCTAssertTrue(text.hasPrefix("the private key (file \(certificates.client.key)) could not be loaded: "), text)
        XCTAssertTrue(text.contains("mismatch"), text)
    }

    func test_context_throws_whenCertificateIsNotPEM() throws {
        let certificates = try TestCertificates.shared()
        let text = message(.server(certificateChain: .string("not a certificate"), privateKey: .file(certificates.server.key)), role: .server)
        XCTAssertEqual(text, "the certificate chain (PEM bytes) could not be loaded: no PEM certificate found (no start line)")
    }

    func test_context_throws_whenKeyIsEncrypted() throws {
        let certificates = try TestCertificates.shared()
        let encrypted = certificates.directory + "/encrypted.key"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["pkey", "-in", certificates.server.key, "-aes256", "-passout", "pass:secret", "-out", encrypted]
        try process.run()
        process.waitUntilExit()
        let text = message(.server(certificateChain: .file(certificates.server.certificate), privateKey: .file(encrypted)), role: .server)
        XCTAssertTrue(text.hasPrefix("the private key (file \(encrypted)) is encrypted: give it unencrypted"), text)
    }

    func test_context_throws_whenTrustHoldsNoCertificate() {
        let text = message(TLSConfiguration(trust: .certificateAuthorities(.string("-----BEGIN NOTHING-----"))), role: .client)
        XCTAssertTrue(text.hasPrefix("no CA certificate could be read from the trust PEM bytes"), text)
    }

    func test_context_throws_whenALPNNameIsEmpty() {
        XCTAssertEqual(message(TLSConfiguration(applicationProtocols: [""]), role: .client),
                       "ALPN protocol name \"\" must be 1 to 255 bytes")
    }

    func test_context_throws_whenChainHasNoKey() throws {
        let certificates = try TestCertificates.shared()
        XCTAssertEqual(message(TLSConfiguration(certificateChain: .file(certificates.client.certificate)), role: .client),
                       "a certificate chain and its private key go together: set both or neither")
    }

    func test_context_throws_whenRequiringClientCertificatesWithoutVerification() throws {
        let certificates = try TestCertificates.shared()
        var server = TLSConfiguration.server(certificateChain: .file(certificates.server.certificate), privateKey: .file(certificates.server.key))
        server.clientCertificateRequired = true
        server.certificateVerification = .insecureNoVerificationForLocalDevelopment
        XCTAssertEqual(message(server, role: .server), "clientCertificateRequired needs certificateVerification .full")
    }

    func test_context_loadsSystemTrust_forDefaultClient() {
        XCTAssertNoThrow(try TLSContext(configuration: TLSConfiguration(), role: .client))
    }

    func test_error_equalsByKind_notByMessage() {
        XCTAssertEqual(TLSError.handshakeFailed("one"), TLSError.handshakeFailed)
        XCTAssertNotEqual(TLSError.handshakeFailed("one"), TLSError.connectionFailed("one"))
        XCTAssertEqual(TLSError.handshakeFailed("the reason").description, "the reason")
    }
}
