/// One Engine.IO v4 packet: the transport layer under Socket.IO.
///
/// On a WebSocket, each packet is one frame: text packets are a type digit and their data
/// (`4hello`), a binary message is a binary frame holding the bytes alone. In an HTTP
/// long-polling body, packets are joined by the record separator `0x1E`, a binary message
/// written `b` and base64. ``EngineIOCodec`` reads and writes both.
///
/// ```
/// 0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],...}   .open(...)
/// 2          .ping([])          2probe   .ping("probe")
/// 4hello     .message("hello")  <binary frame 01 02>  .binary([1, 2])
/// ```
public enum EngineIOPacket: Sendable, Equatable {
    /// `0`: the handshake the server sends first, a JSON object (`sid`, `upgrades`,
    /// `pingInterval`, `pingTimeout`, `maxPayload`).
    case open(RawJSON)
    /// `1`: the transport is to be closed.
    case close
    /// `2`: a ping (the server's heartbeat; `2probe` from a client tests an upgrade).
    case ping([UInt8])
    /// `3`: the answer to a ping, echoing its data (`3probe`).
    case pong([UInt8])
    /// `4`: a text message, UTF-8 (a Socket.IO packet).
    case message([UInt8])
    /// A binary message (a Socket.IO binary attachment).
    case binary([UInt8])
    /// `5`: the client switches to the transport it probed.
    case upgrade
    /// `6`: nothing; makes a held poll return during an upgrade.
    case noop

    /// The type digit written before the data (a binary message has none on a WebSocket).
    var typeDigit: UInt8 {
        switch self {
        case .open: return UInt8(ascii: "0")
        case .close: return UInt8(ascii: "1")
        case .ping: return UInt8(ascii: "2")
        case .pong: return UInt8(ascii: "3")
        case .message, .binary: return UInt8(ascii: "4")
        case .upgrade: return UInt8(ascii: "5")
        case .noop: return UInt8(ascii: "6")
        }
    }
}
