/// An incremental, pure RFC 6455 frame parser.
///
/// Feed it bytes as they arrive; it calls back once per complete frame with the payload
/// unmasked in place. Bytes of an incomplete frame are kept in a carry buffer, which is empty
/// (and holds no memory) between frames, so an idle connection costs nothing here. Every
/// header rule of RFC 6455 5.2 is checked as soon as the bytes it needs are present, so an
/// oversized frame is refused before its payload is buffered.
///
/// ```swift
/// var parser = FrameParser(expectMasked: true, maxFrameSize: 1 << 20)
/// try bytes.withUnsafeMutableBytes { buffer in
///     try parser.parse(buffer) { frame in print(frame.opcode, frame.payload.count) }
/// }
/// ```
public struct FrameParser: Sendable {
    /// Whether frames must be masked: true on a server (client frames), false on a client.
    public let expectMasked: Bool
    /// The largest accepted frame payload, in bytes.
    public let maxFrameSize: Int
    /// Bytes of a frame that is not complete yet.
    private var carry: [UInt8] = []

    /// - Parameters:
    ///   - expectMasked: true for a server (RFC 6455 5.1: clients MUST mask), false for a client
    ///     (servers MUST NOT mask).
    ///   - maxFrameSize: frames with a longer payload fail with ``WebSocketError/messageTooBig(limit:)``.
    public init(expectMasked: Bool, maxFrameSize: Int) {
        self.expectMasked = expectMasked
        self.maxFrameSize = maxFrameSize
    }

    /// Bytes held for an incomplete frame.
    public var bufferedByteCount: Int { carry.count }

    /// Parses every complete frame in `carry + input`, calling `onFrame` for each in order.
    ///
    /// `input` is modified in place (payloads are unmasked where they lie).
    /// - Throws: ``WebSocketError`` for a frame that breaks a rule of RFC 6455 5.2–5.5, or
    ///   whatever `onFrame` throws. After a throw the parser must not be used again.
    public mutating func parse(_ input: UnsafeMutableRawBufferPointer, _ onFrame: (Frame) throws -> Void) throws {
        try Self.parse(input, carry: &carry, expectMasked: expectMasked, maxFrameSize: maxFrameSize, onFrame)
    }

    /// ``parse(_:_:)`` with the carry and the settings held by the caller: a connection keeps
    /// only the carry (the settings are its server's), 16 bytes less per connection.
    /// - Parameter carry: bytes of an incomplete frame, kept between calls; empty (no memory) between frames.
    static func parse(_ input: UnsafeMutableRawBufferPointer, carry: inout [UInt8], expectMasked: Bool, maxFrameSize: Int,
                      _ onFrame: (Frame) throws -> Void) throws {
        if carry.isEmpty {
            let consumed = try parseFrames(input, expectMasked: expectMasked, maxFrameSize: maxFrameSize, onFrame)
            if consumed < input.count {
                carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[consumed...]))
            }
            return
        }
        carry.append(contentsOf: UnsafeRawBufferPointer(input))
        let consumed = try carry.withUnsafeMutableBytes { buffer in
            try parseFrames(buffer, expectMasked: expectMasked, maxFrameSize: maxFrameSize, onFrame)
        }
        if consumed == carry.count {
            carry = []  // give the memory back: idle connections hold no buffer
        } else if consumed > 0 {
            carry.removeFirst(consumed)
        }
    }

    /// Parses complete frames from the start of `buffer`; returns the bytes consumed.
    private static func parseFrames(
        _ buffer: UnsafeMutableRawBufferPointer, expectMasked: Bool, maxFrameSize: Int,
        _ onFrame: (Frame) throws -> Void
    ) throws -> Int {
        var offset = 0
        let count = buffer.count
        guard let base = buffer.baseAddress else { return 0 }
        while count - offset >= 2 {
            let b0 = base.load(fromByteOffset: offset, as: UInt8.self)
            let b1 = base.load(fromByteOffset: offset + 1, as: UInt8.self)
            let fin = b0 & 0x80 != 0
            // RFC 6455 5.2: RSV1-3 MUST be 0 unless an extension defines them; none is negotiated.
            guard b0 & 0x70 == 0 else { throw WebSocketError.protocolViolation("reserved bits set without an extension") }
            // RFC 6455 5.2: reserved opcodes MUST fail the connection.
            guard let opcode = Opcode(rawValue: b0 & 0x0F) else {
                throw WebSocketError.protocolViolation("reserved opcode \(b0 & 0x0F)")
            }
            let masked = b1 & 0x80 != 0
            // RFC 6455 5.1: a server MUST close on an unmasked client frame; a client MUST close on a masked server frame.
            guard masked == expectMasked else {
                throw WebSocketError.protocolViolation(expectMasked ? "unmasked client frame" : "masked server frame")
            }
            let length7 = Int(b1 & 0x7F)
            if opcode.isControl {
                // RFC 6455 5.5: control frames MUST have FIN set and a payload of at most 125 bytes.
                guard fin else { throw WebSocketError.protocolViolation("fragmented control frame") }
                guard length7 <= 125 else { throw WebSocketError.protocolViolation("control frame payload over 125 bytes") }
            }
            var headerLength = 2
            var payloadLength = length7
            if length7 == 126 {
                guard count - offset >= 4 else { break }
                payloadLength = Int(base.load(fromByteOffset: offset + 2, as: UInt8.self)) << 8
                    | Int(base.load(fromByteOffset: offset + 3, as: UInt8.self))
                headerLength = 4
            } else if length7 == 127 {
                guard count - offset >= 10 else { break }
                var length: UInt64 = 0
                for i in 0..<8 { length = length << 8 | UInt64(base.load(fromByteOffset: offset + 2 + i, as: UInt8.self)) }
                // RFC 6455 5.2: the most significant bit of a 64-bit length MUST be 0.
                guard length & (1 << 63) == 0 else { throw WebSocketError.protocolViolation("64-bit length with the high bit set") }
                guard length <= UInt64(maxFrameSize) else { throw WebSocketError.messageTooBig(limit: maxFrameSize) }
                payloadLength = Int(length)
                headerLength = 10
            }
            guard payloadLength <= maxFrameSize else { throw WebSocketError.messageTooBig(limit: maxFrameSize) }
            if masked { headerLength += 4 }
            guard count - offset >= headerLength + payloadLength else { break }
            let payloadStart = offset + headerLength
            let payload = UnsafeMutableRawBufferPointer(start: base + payloadStart, count: payloadLength)
            if masked {
                let k = payloadStart - 4
                let key = (base.load(fromByteOffset: k, as: UInt8.self), base.load(fromByteOffset: k + 1, as: UInt8.self),
                           base.load(fromByteOffset: k + 2, as: UInt8.self), base.load(fromByteOffset: k + 3, as: UInt8.self))
                applyMask(payload, key: key)
            }
            offset = payloadStart + payloadLength
            try onFrame(Frame(fin: fin, opcode: opcode, payload: UnsafeRawBufferPointer(payload)))
        }
        return offset
    }
}
