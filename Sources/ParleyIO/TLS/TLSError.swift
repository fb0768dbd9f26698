/// A TLS failure, with a message that says what failed in words a user can act on.
///
/// The kinds are the static members (``libraryNotFound``, ``certificateVerificationFailed``...);
/// two errors are equal when they are of the same kind, whatever their messages, so callers can
/// test `error == .certificateVerificationFailed` and show ``message``:
///
/// ```swift
/// if case .failed(let error) = outcome, error == .certificateVerificationFailed {
///     print(error.message)   // "certificate verification failed: certificate has expired"
/// }
/// ```
public struct TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: Sendable, Hashable {
        case libraryNotFound
        case invalidConfiguration
        case certificateVerificationFailed
        case handshakeFailed
        case connectionFailed
    }

    private let code: Code
    /// What failed, for people: the cause and, where there is one, what to change.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Same kind (the messages are not compared).
    public static func == (lhs: TLSError, rhs: TLSError) -> Bool { lhs.code == rhs.code }

    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// OpenSSL (libssl and libcrypto) could not be loaded.
    public static let libraryNotFound = TLSError(.libraryNotFound, "OpenSSL was not found")
    /// The configuration cannot be used: a file that cannot be read, PEM that does not parse, a
    /// key that does not match its certificate, a missing server name.
    public static let invalidConfiguration = TLSError(.invalidConfiguration, "invalid TLS configuration")
    /// The peer's certificate was refused: untrusted issuer, expired, not for this host name.
    public static let certificateVerificationFailed = TLSError(.certificateVerificationFailed, "certificate verification failed")
    /// The handshake failed for another reason: no common protocol version, a peer that does not
    /// speak TLS, a peer that refused our certificate, the connection closed mid-handshake.
    public static let handshakeFailed = TLSError(.handshakeFailed, "TLS handshake failed")
    /// The established connection failed: a corrupt record, an alert, a socket error.
    public static let connectionFailed = TLSError(.connectionFailed, "TLS connection failed")

    package static func libraryNotFound(_ message: String) -> TLSError { TLSError(.libraryNotFound, message) }
    package static func invalidConfiguration(_ message: String) -> TLSError { TLSError(.invalidConfiguration, message) }
    package static func certificateVerificationFailed(_ message: String) -> TLSError { TLSError(.certificateVerificationFailed, message) }
    package static func handshakeFailed(_ message: String) -> TLSError { TLSError(.handshakeFailed, message) }
    package static func connectionFailed(_ message: String) -> TLSError { TLSError(.connectionFailed, message) }
}
