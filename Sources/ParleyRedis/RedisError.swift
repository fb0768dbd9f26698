import ParleyIO

/// Every error of the Redis client.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The URL cannot be used; the text says why.
    case invalidURL(String)
    /// TLS failed (`rediss://`): OpenSSL missing, a configuration that cannot be loaded, the
    /// server's certificate refused, or the handshake failed. The message says which.
    case tls(TLSError)
    /// Name resolution or the TCP connect failed; `errno` says why.
    case connectFailed(host: String, port: Int, errno: Int32)
    /// An established connection ended (Redis closed it, or the network failed); `errno` 0
    /// when Redis closed it.
    case connectionLost(host: String, port: Int, errno: Int32)
    /// The connection and its set-up (`AUTH`, `SELECT`, subscriptions) did not finish in time.
    case connectTimeout(host: String, port: Int)
    /// Redis refused the credentials, or wants some and none were given (`NOAUTH`).
    case authFailed(String)
    /// Redis refused `SELECT` (a database number it does not have).
    case selectFailed(String)
    /// Redis answered a command with an error reply.
    case commandFailed(String)
    /// Redis sent something that is not RESP2, or more than the reply limit.
    case protocolError(String)
    /// The connection is not ready (connecting, reconnecting, or closed).
    case notConnected
    /// The outgoing buffer is full: the command was dropped.
    case bufferFull(limit: Int)

    public var description: String {
        switch self {
        case .invalidURL(let why): return "invalid Redis URL: \(why)"
        case .tls(let error): return "Redis TLS: \(error.message)"
        case .connectFailed(let host, let port, let code):
            return "cannot connect to Redis at \(host):\(port): \(String(cString: strerror(code)))"
        case .connectionLost(let host, let port, let code):
            return "lost the connection to Redis at \(host):\(port)" + (code == 0 ? " (closed by Redis)" : ": \(String(cString: strerror(code)))")
        case .connectTimeout(let host, let port): return "Redis at \(host):\(port) did not answer in time"
        case .authFailed(let message): return "Redis refused authentication: \(message)"
        case .selectFailed(let message): return "Redis refused SELECT: \(message)"
        case .commandFailed(let message): return "Redis error: \(message)"
        case .protocolError(let why): return "Redis protocol error: \(why)"
        case .notConnected: return "not connected to Redis"
        case .bufferFull(let limit): return "Redis output buffer full (\(limit) bytes): command dropped"
        }
    }
}
