import Foundation
import XCTest

/// Throw-away certificates for TLS tests, made with the `openssl` command line in a temporary
/// directory, once per test process: a CA, certificates it issues (a server for localhost,
/// 127.0.0.1 and ::1; an expired one; one for another host; a client) and a second CA that
/// nothing trusts, with a client certificate of its own. EC P-256 keys: fast to make and use.
///
/// ```swift
/// let certificates = try TestCertificates.shared()
/// let server = TLSConfiguration.server(certificateChain: .file(certificates.server.certificate),
///                                      privateKey: .file(certificates.server.key))
/// ```
public struct TestCertificates: Sendable {
    /// A certificate file and its unencrypted key file (PEM).
    public struct Pair: Sendable {
        public let certificate: String
        public let key: String

        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    /// The directory holding every file.
    public let directory: String
    /// The CA certificate that issues every pair below except ``untrustedClient``.
    public let ca: String
    /// For `localhost`, `127.0.0.1` and `::1`; valid for ten years.
    public let server: Pair
    /// For the same names, expired yesterday.
    public let expired: Pair
    /// For `wrong.example.com` only.
    public let wrongHost: Pair
    /// A client certificate (extended key usage clientAuth).
    public let client: Pair
    /// A CA that no test trusts.
    public let otherCA: String
    /// A client certificate issued by ``otherCA``.
    public let untrustedClient: Pair

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private static let made = Locked<Result<TestCertificates, Failure>?>(nil)

    /// The certificates of this test process, made on first use.
    /// - Throws: `XCTSkip` when the `openssl` command is missing (a failure when `CI` is set),
    ///   ``Failure`` when it fails.
    public static func shared() throws -> TestCertificates {
        if openSSLCommand() == nil {
            let message = "the openssl command line is not installed (apt-get install -y openssl)"
            if ProcessInfo.processInfo.environment["CI"] == nil { throw XCTSkip(message + "; set CI=1 to make this a failure") }
            throw Failure(description: message)
        }
        return try made.withLock { made -> Result<TestCertificates, Failure> in
            if let made { return made }
            let result = Result { () throws(Failure) in try make() }
            made = result
            return result
        }.get()
    }

    private static func openSSLCommand() -> String? {
        ["/usr/bin/openssl", "/usr/local/bin/openssl", "/opt/homebrew/bin/openssl"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func make() throws(Failure) -> TestCertificates {
        let directory = NSTemporaryDirectory() + "parley-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw Failure(description: "cannot create \(directory): \(error)")
        }
        let maker = Maker(directory: directory)
        let ca = try maker.authority("ca", subject: "Parley Test CA")
        let otherCA = try maker.authority("other-ca", subject: "Parley Untrusted Test CA")
        let serverNames = "DNS:localhost,IP:127.0.0.1,IP:::1"
        return TestCertificates(
            directory: directory,
            ca: ca,
            server: try maker.leaf("server", issuer: "ca", names: serverNames, usage: "serverAuth", days: 3650),
            expired: try maker.leaf("expired", issuer: "ca", names: serverNames, usage: "serverAuth", days: -1),
            wrongHost: try maker.leaf("wrong-host", issuer: "ca", names: "DNS:wrong.example.com", usage: "serverAuth", days: 3650),
            client: try maker.leaf("client", issuer: "ca", names: "DNS:parley-test-client", usage: "clientAuth", days: 3650),
            otherCA: otherCA,
            untrustedClient: try maker.leaf("untrusted-client", issuer: "other-ca", names: "DNS:parley-test-client", usage: "clientAuth", days: 3650))
    }

    /// Runs `openssl` in one directory.
    private struct Maker {
        let directory: String

        func authority(_ name: String, subject: String) throws(Failure) -> String {
            try run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", "\(name).key", "-out", "\(name).pem", "-days", "3650", "-subj", "/CN=\(subject)",
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            return path("\(name).pem")
        }

        /// A certificate for `names` (subjectAltName syntax), valid for `days` from now (a
        /// negative count: expired, `notAfter` in the past).
        func leaf(_ name: String, issuer: String, names: String, usage: String, days: Int) throws(Failure) -> Pair {
            let extensions = """
                [leaf]
                basicConstraints = critical, CA:FALSE
                keyUsage = critical, digitalSignature, keyEncipherment
                extendedKeyUsage = \(usage)
                subjectAltName = \(names)

                """
            do {
                try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            } catch {
                throw Failure(description: "cannot write \(name).ext: \(error)")
            }
            let commonName = names.split(separator: ",")[0].split(separator: ":", maxSplits: 1).last.map(String.init) ?? name
            try run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(commonName)"])
            try run(["x509", "-req", "-in", "\(name).csr", "-CA", "\(issuer).pem", "-CAkey", "\(issuer).key",
                     "-set_serial", String(UInt32.random(in: 1...UInt32.max)), "-days", String(days),
                     "-extfile", "\(name).ext", "-extensions", "leaf", "-out", "\(name).pem"])
            return Pair(certificate: path("\(name).pem"), key: path("\(name).key"))
        }

        private func path(_ name: String) -> String { directory + "/" + name }

        private func run(_ arguments: [String]) throws(Failure) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: openSSLCommand() ?? "/usr/bin/openssl")
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                throw Failure(description: "cannot run openssl: \(error)")
            }
            let output = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw Failure(description: "openssl \(arguments.joined(separator: " ")) failed: \(String(decoding: output, as: UTF8.self))")
            }
        }
    }
}
