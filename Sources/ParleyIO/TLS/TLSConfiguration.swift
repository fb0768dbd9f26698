/// What a TLS endpoint presents and what it accepts: certificates, trust, verification, version,
/// ALPN. The same value configures a server or a client (``TLSContext`` takes the role).
///
/// Secure by default: a client verifies the server's certificate chain against the system trust
/// store and the certificate's names against the host it connects to; TLS 1.2 is the minimum.
///
/// ```swift
/// // A server (wss://, https://):
/// let server = TLSConfiguration.server(certificateChain: .file("/etc/parley/cert.pem"),
///                                      privateKey: .file("/etc/parley/key.pem"))
/// // A client trusting only a private CA (not the system's):
/// var client = TLSConfiguration()
/// client.trust = .certificateAuthorities(.file("ca.pem"))
/// ```
public struct TLSConfiguration: Sendable, Hashable {
    /// PEM text, from a file (read when the ``TLSContext`` is made) or in memory.
    public enum PEM: Sendable, Hashable {
        /// A path to a PEM file.
        case file(String)
        /// The PEM text as bytes.
        case bytes([UInt8])

        /// The PEM text as a string.
        public static func string(_ text: String) -> PEM { .bytes(Array(text.utf8)) }
    }

    /// The certificate authorities a peer's certificate must chain to.
    public enum Trust: Sendable, Hashable {
        /// The operating system's trust store (OpenSSL's default verify paths; on Debian,
        /// `/etc/ssl/certs`).
        case system
        /// Only the CA certificates in this PEM (one or more), not the system's.
        case certificateAuthorities(PEM)
    }

    /// Whether the peer's certificate is checked.
    public enum CertificateVerification: Sendable, Hashable {
        /// Clients: the server's chain must lead to ``trust`` and its names must match the host
        /// (DNS name, or IP address for an IP literal). Servers: when
        /// ``clientCertificateRequired``, the client's chain must lead to ``trust``.
        case full
        /// Accepts any certificate, from anyone: a man in the middle goes unnoticed. For local
        /// development against a self-signed certificate only; logged once when used.
        case insecureNoVerificationForLocalDevelopment
    }

    /// A TLS protocol version.
    public enum Version: Sendable, Hashable {
        case tls12
        case tls13
    }

    /// The certificate presented to the peer, leaf first, then its intermediates. Required on a
    /// server; on a client, for mutual TLS. Default nil.
    public var certificateChain: PEM?
    /// The unencrypted private key of ``certificateChain``'s leaf. Default nil.
    public var privateKey: PEM?
    /// What the peer's certificate must chain to: the server's (clients), the clients' (servers
    /// with ``clientCertificateRequired``). Default ``Trust/system``: public certificates work
    /// with no setup.
    public var trust: Trust
    /// Default ``CertificateVerification/full``: skipping checks must be a visible choice.
    public var certificateVerification: CertificateVerification
    /// Servers: every client must present a certificate that chains to ``trust`` (mutual TLS).
    /// Default false: browsers and most clients have no certificate.
    public var clientCertificateRequired: Bool
    /// The oldest version accepted. Default TLS 1.2: older versions are deprecated (RFC 8996)
    /// and every current client speaks 1.2 or 1.3.
    public var minimumVersion: Version
    /// ALPN protocol names, most preferred first (e.g. `["http/1.1"]` for HTTPS and WebSocket).
    /// Clients offer them; servers pick the first of theirs the client offers, and go on
    /// without ALPN when there is none in common. Default empty: no ALPN.
    public var applicationProtocols: [String]

    /// - Parameters: see the properties; the defaults are those of a verifying client.
    public init(certificateChain: PEM? = nil,
                privateKey: PEM? = nil,
                trust: Trust = .system,
                certificateVerification: CertificateVerification = .full,
                clientCertificateRequired: Bool = false,
                minimumVersion: Version = .tls12,
                applicationProtocols: [String] = []) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trust = trust
        self.certificateVerification = certificateVerification
        self.clientCertificateRequired = clientCertificateRequired
        self.minimumVersion = minimumVersion
        self.applicationProtocols = applicationProtocols
    }

    /// A server presenting `certificateChain` with `privateKey`, not asking for client
    /// certificates.
    ///
    /// - Parameters:
    ///   - certificateChain: the server's certificate, then its intermediates.
    ///   - privateKey: the unencrypted key of the certificate.
    ///   - applicationProtocols: ALPN names the server accepts, e.g. `["http/1.1"]`.
    public static func server(certificateChain: PEM, privateKey: PEM, applicationProtocols: [String] = []) -> TLSConfiguration {
        TLSConfiguration(certificateChain: certificateChain, privateKey: privateKey, applicationProtocols: applicationProtocols)
    }
}
