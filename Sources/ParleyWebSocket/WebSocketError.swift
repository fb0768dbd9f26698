import ParleyIO

/// Every error of the WebSocket layer, and the one place that maps each to its close code.
///
/// Codec errors (`protocolViolation`, `invalidUTF8`, `messageTooBig`) fail the connection with
/// the close code given by ``closeCode``; handshake errors answer with an HTTP status before any
/// WebSocket frame exists; the rest report local conditions to the caller.
public enum WebSocketError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The peer broke an RFC 6455 rule; the text names the rule. Close code 1002.
    case protocolViolation(String)
    /// A text message or close reason is not valid UTF-8 (RFC 6455 8.1). Close code 1007.
    case invalidUTF8
    /// A frame or message is larger than the configured limit. Close code 1009.
    case messageTooBig(limit: Int)
    /// The server refused the opening handshake with this HTTP status (client side).
    case handshakeRejected(status: Int, reason: String)
    /// The server's handshake response is not a valid `101 Switching Protocols` (client side).
    case invalidHandshakeResponse(String)
    /// The URL cannot be used: bad syntax, an unsupported scheme, a bad port.
    case invalidURL(String)
    /// Name resolution, socket creation or TCP connect failed; `errno` says why.
    case connectFailed(host: String, port: Int, errno: Int32)
    /// The TCP connect and opening handshake did not finish within the connect timeout.
    case connectTimeout
    /// The server could not bind or listen; `errno` says why.
    case bindFailed(host: String, port: Int, errno: Int32)
    /// The connection is closed (or closing); nothing more can be sent.
    case closed
    /// TLS failed: OpenSSL is missing, the configuration cannot be loaded, the peer's
    /// certificate was refused, or the TLS handshake or connection failed. The message says which.
    case tls(TLSError)
    /// ``WebSocketServer/reloadTLS()`` was called on a server configured without TLS.
    case tlsNotConfigured

    /// The close code sent to the peer when this error fails a connection.
    public var closeCode: CloseCode {
        switch self {
        case .protocolViolation: return .protocolError
        case .invalidUTF8: return .invalidPayload
        case .messageTooBig: return .messageTooBig
        default: return .internalError
        }
    }

    public var description: String {
        switch self {
        case .protocolViolation(let rule): return "protocol violation: \(rule)"
        case .invalidUTF8: return "invalid UTF-8 in a text message or close reason"
        case .messageTooBig(let limit): return "message exceeds the \(limit)-byte limit"
        case .handshakeRejected(let status, let reason): return "handshake rejected: HTTP \(status) \(reason)"
        case .invalidHandshakeResponse(let why): return "invalid handshake response: \(why)"
        case .invalidURL(let why): return "invalid URL: \(why)"
        case .connectFailed(let host, let port, let code):
            return "cannot connect to \(host):\(port): \(String(cString: strerror(code)))"
        case .connectTimeout: return "connect timed out"
        case .bindFailed(let host, let port, let code):
            return "cannot listen on \(host):\(port): \(String(cString: strerror(code)))"
        case .closed: return "the connection is closed"
        case .tls(let error): return error.message
        case .tlsNotConfigured: return "the server has no TLS configuration to reload"
        }
    }
}
