import ParleyWebSocket

/// Every error of the client layer.
///
/// `emitWithAck` throws the ack errors; `connect_error` and `reconnect_error` events carry the
/// connection errors; `emit` throws ``reservedEvent(_:)`` and ``encodingFailed(_:)``.
public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No acknowledgement within the timeout. A late answer is ignored; an emit still buffered
    /// when its time ran out is never sent.
    case ackTimeout(event: String)
    /// The server answered the acknowledgement with an error (`{"ack":id,"error":{...}}`).
    case ackFailed(message: String)
    /// The emit was sent, then its connection was lost (or ``Client/disconnect()`` was called):
    /// the answer can never come.
    case disconnected
    /// The offline buffer was full: this buffered emit was dropped, oldest first, for a newer one.
    case droppedFromBuffer(event: String)
    /// ``Client/maxPendingAcks`` acknowledgements are already awaited.
    case tooManyPendingAcks(limit: Int)
    /// Applications cannot emit the protocol's reserved names (Protocol.md section 6).
    case reservedEvent(String)
    /// The value could not be encoded as JSON.
    case encodingFailed(String)
    /// The opening handshake and the server's `connect` did not both arrive within
    /// ``Client/Options/timeout``.
    case connectTimeout
    /// The connection could not be opened: refused, unreachable, rejected with an HTTP status,
    /// or an invalid URL.
    case transport(WebSocketError)
    /// The server closed the connection before it sent `connect`.
    case closedBeforeConnect(code: CloseCode, reason: String)
    /// ``Client/Options/auth`` threw (its error described): that attempt was not made.
    case auth(String)

    /// Whether retrying cannot help: the URL itself is unusable.
    var isPermanent: Bool {
        if case .transport(.invalidURL) = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .ackTimeout(let event): return "no acknowledgement for '\(event)' in time"
        case .ackFailed(let message): return "acknowledgement failed: \(message)"
        case .disconnected: return "disconnected before the acknowledgement came"
        case .droppedFromBuffer(let event): return "'\(event)' was dropped from the full offline buffer"
        case .tooManyPendingAcks(let limit): return "more than \(limit) acknowledgements pending"
        case .reservedEvent(let name): return "'\(name)' is a reserved event name"
        case .encodingFailed(let why): return "cannot encode as JSON: \(why)"
        case .connectTimeout: return "timeout"
        case .transport(let error): return error.description
        case .auth(let why): return "auth failed: \(why)"
        case .closedBeforeConnect(let code, let reason):
            return reason.isEmpty ? "connection closed (\(code)) before connect" : "connection closed (\(code) \(reason)) before connect"
        }
    }
}
