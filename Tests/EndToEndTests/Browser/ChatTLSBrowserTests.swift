import Foundation
import TestSupport
import XCTest

/// The chat example over TLS: `chat-server --tls-cert --tls-key` with the test certificate, and
/// headless Chromium trusting that certificate through its command-line switch (the hash of its
/// public key), so the page, its scripts, parley.js and the WebSocket all go over TLS.
final class ChatTLSBrowserTests: XCTestCase {
    /// The base64 SHA-256 of the certificate's SubjectPublicKeyInfo, as
    /// `--ignore-certificate-errors-spki-list` takes it.
    private func spkiHash(of certificate: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "openssl x509 -in \"$0\" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
                             certificate]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let hash = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, hash.count == 44 else { throw EndToEndError("cannot hash the test certificate's key: \(hash)") }
        return hash
    }

    func test_chat_twoPages_exchangeMessages_overHTTPSAndWSS() async throws {
        let certificates = try TestCertificates.shared()
        let hash = try spkiHash(of: certificates.server.certificate)
        let browser = try await Chromium.launch(for: self, arguments: ["--ignore-certificate-errors-spki-list=\(hash)"])
        let server = try await ChildProcess.start("chat-server", ["--port", "0", "--tls-cert", certificates.server.certificate,
                                                                  "--tls-key", certificates.server.key], for: self)
        let ada = try await ChatPage.open(browser.devTools, port: server.port, scheme: "https")
        let grace = try await ChatPage.open(browser.devTools, port: server.port, scheme: "https")
        try await ada.login("ada")
        try await grace.login("grace")
        try await ada.send("Hello over TLS")
        try await grace.waitForMessage(from: "ada", "Hello over TLS")
        try await grace.send("Encrypted both ways")
        try await ada.waitForMessage(from: "grace", "Encrypted both ways")
        let scheme = try await ada.page.string("location.protocol")
        XCTAssertEqual(scheme, "https:")
    }

    func test_chatServer_reloadsCertificate_onSIGHUP() async throws {
        let certificates = try TestCertificates.shared()
        let server = try await ChildProcess.start("chat-server", ["--port", "0", "--tls-cert", certificates.server.certificate,
                                                                  "--tls-key", certificates.server.key], for: self)
        kill(server.process.processIdentifier, SIGHUP)
        try await server.line(containing: "TLS certificate reloaded")
    }
}
