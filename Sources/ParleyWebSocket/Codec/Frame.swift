/// One decoded frame, as the ``FrameParser`` hands it to its caller.
///
/// `payload` is already unmasked and points into the parser's input or carry buffer: it is
/// valid only for the duration of the callback that receives the frame. Copy what you keep.
public struct Frame {
    /// FIN: this is the last frame of its message.
    public var fin: Bool
    public var opcode: Opcode
    /// The unmasked payload, borrowed for the duration of the callback.
    public var payload: UnsafeRawBufferPointer

    public init(fin: Bool, opcode: Opcode, payload: UnsafeRawBufferPointer) {
        self.fin = fin
        self.opcode = opcode
        self.payload = payload
    }
}

/// XORs `buffer` in place with the 4-byte masking key (RFC 6455 5.3).
@inlinable
func applyMask(_ buffer: UnsafeMutableRawBufferPointer, key: (UInt8, UInt8, UInt8, UInt8)) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    // Byte i of the payload is XORed with key[i % 4]; loaded little-endian, a word's low byte
    // is the first in memory, so the key laid out the same way repeats across the word.
    let key32 = UInt32(key.0) | UInt32(key.1) << 8 | UInt32(key.2) << 16 | UInt32(key.3) << 24
    let wide = UInt64(littleEndian: UInt64(key32) | UInt64(key32) << 32)
    let count = buffer.count
    var i = 0
    while i + 8 <= count {
        let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        base.storeBytes(of: word ^ wide, toByteOffset: i, as: UInt64.self)
        i += 8
    }
    while i < count {
        let keyByte = UInt8(truncatingIfNeeded: key32 >> (8 * UInt32(i & 3)))
        base.storeBytes(of: base.load(fromByteOffset: i, as: UInt8.self) ^ keyByte, toByteOffset: i, as: UInt8.self)
        i += 1
    }
}
