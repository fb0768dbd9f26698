/// An incremental UTF-8 validator (RFC 3629), so a text message split across fragments fails
/// on the first bad byte instead of after the whole message has arrived (RFC 6455 8.1).
///
/// ```swift
/// var validator = UTF8Validator()
/// guard validator.consume(fragment1), validator.consume(fragment2), validator.isComplete else { fail() }
/// ```
public struct UTF8Validator: Sendable {
    /// Continuation bytes still expected for the current character.
    private var remaining: UInt8 = 0
    /// Allowed range of the next continuation byte (narrowed after E0, ED, F0, F4 leads).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    public init() {}

    /// True when no character is cut off at the end of the bytes seen so far.
    public var isComplete: Bool { remaining == 0 }

    /// Validates the next bytes; returns false at the first byte that cannot be valid UTF-8.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var i = 0
        while i < count {
            // ASCII fast path: 8 bytes at a time while no character is open.
            if remaining == 0 {
                while i + 8 <= count && base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                    i += 8
                }
                if i >= count { break }
            }
            let byte = base.load(fromByteOffset: i, as: UInt8.self)
            i += 1
            if remaining > 0 {
                guard byte >= lower && byte <= upper else { return false }
                remaining -= 1
                lower = 0x80
                upper = 0xBF
                continue
            }
            switch byte {
            case 0x00...0x7F: continue
            case 0xC2...0xDF: remaining = 1
            case 0xE0: remaining = 2; lower = 0xA0            // no overlong 3-byte forms
            case 0xE1...0xEC, 0xEE...0xEF: remaining = 2
            case 0xED: remaining = 2; upper = 0x9F            // no UTF-16 surrogates
            case 0xF0: remaining = 3; lower = 0x90            // no overlong 4-byte forms
            case 0xF1...0xF3: remaining = 3
            case 0xF4: remaining = 3; upper = 0x8F            // nothing above U+10FFFF
            default: return false                             // 0x80-0xC1, 0xF5-0xFF never lead
            }
        }
        return true
    }

    /// Validates one complete buffer.
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var validator = UTF8Validator()
        return validator.consume(bytes) && validator.isComplete
    }
}
