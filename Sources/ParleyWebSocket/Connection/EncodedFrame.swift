import ParleyIO

/// A server frame encoded once and sent, as the same bytes, to any number of connections.
///
/// ```swift
/// let frame = EncodedFrame(text: "{\"event\":\"news\",\"data\":1}")
/// for socket in sockets { socket.send(frame) }
/// ```
public struct EncodedFrame: Sendable {
    let chunk: ByteChunk
    /// The frame's opcode.
    public let opcode: Opcode
    /// Offset of the payload within the frame bytes.
    let payloadOffset: Int

    /// Encodes an unmasked frame (servers send unmasked frames, RFC 6455 5.1).
    public init(opcode: Opcode, payload: UnsafeRawBufferPointer) {
        let header = FrameEncoder.headerSize(payloadCount: payload.count, masked: false)
        chunk = ByteChunk(capacity: header + payload.count)
        chunk.appendFrame(opcode: opcode, payload: payload, maskKey: nil)
        self.opcode = opcode
        payloadOffset = header
    }

    /// A text frame.
    public init(text: String) {
        var text = text
        self = text.withUTF8 { EncodedFrame(opcode: .text, payload: UnsafeRawBufferPointer($0)) }
    }

    /// A binary frame.
    public init(binary: [UInt8]) {
        self = binary.withUnsafeBytes { EncodedFrame(opcode: .binary, payload: $0) }
    }

    /// The whole frame on the wire.
    public var bytes: [UInt8] { Array(chunk.bytes) }

    /// The payload, unmasked.
    var payload: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: chunk.bytes[payloadOffset...]) }

    /// Calls `body` with the payload, read in place (valid only during the call).
    package func withPayload<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withExtendedLifetime(chunk) { try body(payload) }
    }
}
