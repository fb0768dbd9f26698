/// 128 random bits written as 22 characters of unpadded base64url (RFC 4648 section 5): a
/// socket's ``Socket/id``, a recovery session's token and an Engine.IO session id (`sid`).
///
/// Held as two words rather than a `String` where it is kept: a 22-character string does not
/// fit in a string's inline storage, and every Engine.IO session keeps its id (and the
/// endpoint's table keys it), so the words save an allocation per idle Socket.IO connection.
/// The text is made when it is sent or logged, and a request's `sid` is read back into words
/// to find its session.
struct RandomID: Hashable, Sendable, CustomStringConvertible {
    private let high: UInt64
    private let low: UInt64

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// A new random id.
    init() {
        var generator = SystemRandomNumberGenerator()
        self.init(high: generator.next(), low: generator.next())
    }

    /// The id of these 128 bits, `high` first.
    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The id `text` names, or nil when it is not 22 base64url characters whose last one
    /// carries only the 4 zero bits past the 128 (no id this server made looks otherwise).
    init?(_ text: some StringProtocol) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var count = 0
        for byte in text.utf8 {
            guard count < 22, let value = Self.value(of: byte) else { return nil }
            if count == 21 {
                // The last group: 2 bits of the id, then the 4 padding bits, which must be zero.
                guard value & 0x0F == 0 else { return nil }
                high = high << 2 | low >> 62
                low = low << 2 | UInt64(value >> 4)
            } else {
                // 6 more bits: shift the 128-bit value (high, low) left by 6.
                high = high << 6 | low >> 58
                low = low << 6 | UInt64(value)
            }
            count += 1
        }
        guard count == 22 else { return nil }
        self.high = high
        self.low = low
    }

    /// The 22 characters.
    var description: String {
        var characters = [UInt8](repeating: 0, count: 22)
        for index in 0..<22 {
            // The six bits from bit index*6 of the 132 (the 128 of the id, then four zeros).
            let shift = 128 - 6 * index - 6
            let group: UInt64
            if shift >= 64 {
                group = high >> UInt64(shift - 64)
            } else if shift > 58 {
                group = high << UInt64(64 - shift) | low >> UInt64(shift)
            } else if shift >= 0 {
                group = low >> UInt64(shift)
            } else {
                group = low << UInt64(-shift)
            }
            characters[index] = Self.alphabet[Int(group & 0x3F)]
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// A base64url character's six bits.
    private static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "-"): return 62
        case UInt8(ascii: "_"): return 63
        default: return nil
        }
    }
}
