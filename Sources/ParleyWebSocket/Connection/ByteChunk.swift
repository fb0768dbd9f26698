import Glibc

/// A heap block of bytes with a stable address, so queued frames can go straight into `writev`.
///
/// `@unchecked Sendable`: a chunk is either appended to by the one loop that owns it (then never
/// shared), or frozen (``EncodedFrame``) and only read afterwards, from any thread.
final class ByteChunk: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit { base.deallocate() }

    var freeSpace: Int { capacity - count }

    /// Empties the chunk for reuse.
    func reset() { count = 0 }

    /// Appends a frame; the caller checked ``freeSpace``.
    func appendFrame(opcode: Opcode, payload: UnsafeRawBufferPointer, maskKey: (UInt8, UInt8, UInt8, UInt8)?) {
        let written = FrameEncoder.write(opcode: opcode, payload: payload, maskKey: maskKey, to: base + count)
        count += written
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}

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
}
