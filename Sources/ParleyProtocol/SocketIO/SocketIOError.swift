/// Every error of the Socket.IO dialect's codecs: bytes that are not an Engine.IO v4 packet or
/// payload, not a Socket.IO v5 packet, or binary attachments that break the reassembly bounds.
///
/// A server answers each with the protocol's reaction: a polling request with HTTP 400, a
/// WebSocket or session with a close (Socket.IO's `parse error`).
public enum SocketIOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An Engine.IO packet or polling payload that cannot be read; the text says why.
    case invalidEngineIOPacket(String)
    /// A polling payload holding more packets than allowed.
    case tooManyPackets(limit: Int)
    /// A Socket.IO packet that cannot be read (bad type, attachments count, namespace, id or
    /// payload); the text says why.
    case invalidPacket(String)
    /// A binary packet announcing more attachments than allowed.
    case tooManyAttachments(limit: Int)
    /// Binary attachments adding up to more bytes than allowed.
    case attachmentsTooLarge(limit: Int)
    /// A binary message while no binary packet waits for attachments, or a packet while one
    /// still waits for its attachments.
    case unexpectedAttachment

    public var description: String {
        switch self {
        case .invalidEngineIOPacket(let why): return "invalid Engine.IO packet: \(why)"
        case .tooManyPackets(let limit): return "more than \(limit) packets in one payload"
        case .invalidPacket(let why): return "invalid Socket.IO packet: \(why)"
        case .tooManyAttachments(let limit): return "more than \(limit) binary attachments"
        case .attachmentsTooLarge(let limit): return "binary attachments over \(limit) bytes"
        case .unexpectedAttachment: return "binary attachment out of sequence"
        }
    }
}
