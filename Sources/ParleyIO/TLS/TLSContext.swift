import CParleyTLS
import Synchronization

/// A loaded TLS configuration (an OpenSSL `SSL_CTX`): certificates parsed, trust store loaded,
/// ready to start any number of ``TLSConnection``s, from any thread.
///
/// Immutable once made. To pick up a renewed certificate, make a new context from the same
/// configuration and use it for new connections: existing connections keep the context they
/// started with (they hold a reference to it) and go on unaffected.
///
/// ```swift
/// let context = try TLSContext(configuration: .server(certificateChain: .file("cert.pem"),
///                                                     privateKey: .file("key.pem")),
///                              role: .server)
/// ```
///
/// `@unchecked Sendable`: the `SSL_CTX` is written only during `init`; afterwards OpenSSL only
/// reads it (`SSL_new` from any thread is safe on a context no longer modified).
package final class TLSContext: @unchecked Sendable {
    /// Which side of the handshake the context's connections play.
    package enum Role: Sendable, Hashable {
        case client
        case server
    }

    package let configuration: TLSConfiguration
    package let role: Role
    let pointer: OpaquePointer

    /// Whether the insecure-verification warning was printed in this process.
    private static let warnedInsecure = Atomic<Bool>(false)

    /// Loads OpenSSL (first use), then builds the context: certificate chain and key, trust,
    /// verification, minimum version, ALPN.
    ///
    /// - Parameters:
    ///   - configuration: what to present and accept; PEM files are read now.
    ///   - role: `.server` needs ``TLSConfiguration/certificateChain`` and
    ///     ``TLSConfiguration/privateKey``.
    /// - Throws: ``TLSError/libraryNotFound`` without OpenSSL; ``TLSError/invalidConfiguration``
    ///   naming the file or setting at fault otherwise.
    package init(configuration: TLSConfiguration, role: Role) throws(TLSError) {
        try TLSLibrary.load()
        try Self.validate(configuration, role)
        let version = configuration.minimumVersion == .tls13 ? CPT_VERSION_TLS13 : CPT_VERSION_TLS12
        guard let pointer = cpt_context_new(role == .server ? Int32(CPT_ROLE_SERVER) : Int32(CPT_ROLE_CLIENT), Int32(version)) else {
            throw .invalidConfiguration("OpenSSL could not make a TLS context: \(TLSLibrary.drainErrors())")
        }
        self.pointer = pointer
        self.configuration = configuration
        self.role = role
        try setUp()
    }

    deinit { cpt_context_free(pointer) }

    private static func validate(_ configuration: TLSConfiguration, _ role: Role) throws(TLSError) {
        if role == .server && (configuration.certificateChain == nil || configuration.privateKey == nil) {
            throw .invalidConfiguration("a TLS server needs a certificate chain and its private key")
        }
        if (configuration.certificateChain == nil) != (configuration.privateKey == nil) {
            throw .invalidConfiguration("a certificate chain and its private key go together: set both or neither")
        }
        if role == .server && configuration.clientCertificateRequired
            && configuration.certificateVerification != .full {
            throw .invalidConfiguration("clientCertificateRequired needs certificateVerification .full")
        }
    }

    private func setUp() throws(TLSError) {
        if let chain = configuration.certificateChain, let key = configuration.privateKey {
            let chainBytes = try chain.load("certificate chain")
            guard cpt_context_use_certificate_chain(pointer, chainBytes, chainBytes.count) == 1 else {
                throw .invalidConfiguration("the certificate chain (\(chain.origin)) could not be loaded: \(reasons(default: "no PEM certificate found"))")
            }
            let keyBytes = try key.load("private key")
            guard cpt_context_use_private_key(pointer, keyBytes, keyBytes.count) == 1 else {
                let why = reasons(default: "no PEM private key found")
                if why.contains("passphrase") || why.contains("bad password") || why.contains("bad decrypt") {
                    throw .invalidConfiguration("the private key (\(key.origin)) is encrypted: give it unencrypted (openssl pkey -in KEY -out PLAIN_KEY)")
                }
                throw .invalidConfiguration("the private key (\(key.origin)) could not be loaded: \(why) (it must be an unencrypted PEM key of the chain's first certificate)")
            }
        }
        let verifiesPeer = role == .client || configuration.clientCertificateRequired
        if verifiesPeer {
            switch configuration.trust {
            case .system:
                guard cpt_context_trust_system(pointer) == 1 else {
                    throw .invalidConfiguration("the system trust store could not be loaded: \(reasons(default: "unknown reason"))")
                }
            case .certificateAuthorities(let pem):
                let bytes = try pem.load("CA certificates")
                guard cpt_context_trust_certificates(pointer, bytes, bytes.count) > 0 else {
                    throw .invalidConfiguration("no CA certificate could be read from the trust \(pem.origin): \(reasons(default: "no PEM certificate found"))")
                }
            }
        }
        switch (role, configuration.certificateVerification) {
        case (.client, .full):
            cpt_context_set_verify(pointer, Int32(CPT_VERIFY_PEER))
        case (.client, .insecureNoVerificationForLocalDevelopment):
            cpt_context_set_verify(pointer, Int32(CPT_VERIFY_NONE))
            if !Self.warnedInsecure.exchange(true, ordering: .relaxed) {
                ParleyLogger.standardError.warning("parley: TLS certificate verification is OFF (insecureNoVerificationForLocalDevelopment): any server is accepted; use only for local development")
            }
        case (.server, _):
            cpt_context_set_verify(pointer, Int32(configuration.clientCertificateRequired ? CPT_VERIFY_REQUIRE_PEER_CERTIFICATE : CPT_VERIFY_NONE))
        }
        let alpn = try configuration.alpnWireFormat()
        if !alpn.isEmpty {
            guard cpt_context_set_alpn(pointer, alpn, alpn.count) == 1 else {
                throw .invalidConfiguration("the ALPN protocols \(configuration.applicationProtocols) could not be set: \(reasons(default: "unknown reason"))")
            }
        }
    }

    /// OpenSSL's reasons for the last failure, or `fallback` when it gave none.
    private func reasons(default fallback: String) -> String {
        let text = TLSLibrary.drainErrors()
        if text.isEmpty { return fallback }
        // PEM_R_NO_START_LINE: the bytes hold no "-----BEGIN ...-----" block of the right kind.
        if text == "no start line" { return "\(fallback) (no start line)" }
        return text
    }
}
