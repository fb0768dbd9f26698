/// Encodes frames (RFC 6455 5.2). Pure: appends bytes to an array.
public enum FrameEncoder {
    /// The header size of a frame with `payloadCount` bytes of payload.
    @inlinable
    public static func headerSize(payloadCount: Int, masked: Bool) -> Int {
        let base = payloadCount < 126 ? 2 : (payloadCount <= 0xFFFF ? 4 : 10)
        return masked ? base + 4 : base
    }

    /// Appends one frame to `out`.
    /// - Parameters:
    ///   - opcode: the frame's opcode.
    ///   - fin: whether this is the final frame of its message.
    ///   - payload: the unmasked payload.
    ///   - maskKey: the 4-byte masking key for client frames, or nil for server frames.
    ///   - out: the array the frame is appended to.
    @inlinable
    public static func append(opcode: Opcode, fin: Bool = true, payload: UnsafeRawBufferPointer,
                              maskKey: (UInt8, UInt8, UInt8, UInt8)? = nil, to out: inout [UInt8]) {
        let count = payload.count
        out.reserveCapacity(out.count + headerSize(payloadCount: count, masked: maskKey != nil) + count)
        out.append((fin ? 0x80 : 0) | opcode.rawValue)
        let maskBit: UInt8 = maskKey == nil ? 0 : 0x80
        if count < 126 {
            out.append(maskBit | UInt8(count))
        } else if count <= 0xFFFF {
            out.append(maskBit | 126)
            out.append(UInt8(count >> 8))
            out.append(UInt8(count & 0xFF))
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: count >> shift)) }
        }
        if let key = maskKey {
            out.append(key.0); out.append(key.1); out.append(key.2); out.append(key.3)
            let payloadStart = out.count
            out.append(contentsOf: payload)
            out.withUnsafeMutableBytes { applyMask(UnsafeMutableRawBufferPointer(rebasing: $0[payloadStart...]), key: key) }
        } else {
            out.append(contentsOf: payload)
        }
    }

    /// Writes one frame at `destination`, which has room for ``headerSize(payloadCount:masked:)``
    /// plus the payload; returns the bytes written.
    @inlinable
    public static func write(opcode: Opcode, fin: Bool = true, payload: UnsafeRawBufferPointer,
                             maskKey: (UInt8, UInt8, UInt8, UInt8)?, to destination: UnsafeMutableRawPointer) -> Int {
        let count = payload.count
        let p = destination + writeHeader(opcode: opcode, fin: fin, payloadCount: count, maskKey: maskKey, to: destination)
        if let source = payload.baseAddress, count > 0 {
            p.copyMemory(from: source, byteCount: count)
            if let key = maskKey { applyMask(UnsafeMutableRawBufferPointer(start: p, count: count), key: key) }
        }
        return p + count - destination
    }

    /// Writes the header of a frame of `payloadCount` bytes at `destination`, which has room
    /// for ``headerSize(payloadCount:masked:)``; returns the bytes written (the payload goes
    /// right after them).
    @inlinable
    public static func writeHeader(opcode: Opcode, fin: Bool = true, payloadCount count: Int,
                                   maskKey: (UInt8, UInt8, UInt8, UInt8)?, to destination: UnsafeMutableRawPointer) -> Int {
        var p = destination
        p.storeBytes(of: (fin ? 0x80 : 0) | opcode.rawValue, as: UInt8.self)
        let maskBit: UInt8 = maskKey == nil ? 0 : 0x80
        if count < 126 {
            p.storeBytes(of: maskBit | UInt8(count), toByteOffset: 1, as: UInt8.self)
            p += 2
        } else if count <= 0xFFFF {
            p.storeBytes(of: maskBit | 126, toByteOffset: 1, as: UInt8.self)
            p.storeBytes(of: UInt16(count).bigEndian, toByteOffset: 2, as: UInt16.self)
            p += 4
        } else {
            p.storeBytes(of: maskBit | 127, toByteOffset: 1, as: UInt8.self)
            p.storeBytes(of: UInt64(count).bigEndian, toByteOffset: 2, as: UInt64.self)
            p += 10
        }
        if let key = maskKey {
            p.storeBytes(of: key.0, as: UInt8.self)
            p.storeBytes(of: key.1, toByteOffset: 1, as: UInt8.self)
            p.storeBytes(of: key.2, toByteOffset: 2, as: UInt8.self)
            p.storeBytes(of: key.3, toByteOffset: 3, as: UInt8.self)
            p += 4
        }
        return p - destination
    }

    /// One complete frame as a new array.
    public static func frame(opcode: Opcode, fin: Bool = true, payload: [UInt8],
                             maskKey: (UInt8, UInt8, UInt8, UInt8)? = nil) -> [UInt8] {
        var out: [UInt8] = []
        payload.withUnsafeBytes { append(opcode: opcode, fin: fin, payload: $0, maskKey: maskKey, to: &out) }
        return out
    }

    /// The payload of a close frame: the code in network byte order, then the UTF-8 reason,
    /// cut so that the whole payload stays within 125 bytes (RFC 6455 5.5) on a character boundary.
    public static func closePayload(code: CloseCode, reason: String) -> [UInt8] {
        var payload = [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)]
        var utf8 = Array(reason.utf8)
        if utf8.count > 123 {
            var cut = 123
            while cut > 0 && utf8[cut] & 0xC0 == 0x80 { cut -= 1 }  // do not split a character
            utf8 = Array(utf8[..<cut])
        }
        payload.append(contentsOf: utf8)
        return payload
    }
}
