/// A complete WebSocket data message.
public enum WebSocketMessage: Sendable, Equatable {
    /// A text message: valid UTF-8 (RFC 6455 5.6).
    case text(String)
    /// A binary message.
    case binary([UInt8])
}
