/// A validating JSON (RFC 8259) scanner: an index moving forward over UTF-8 bytes.
///
/// It builds no values. It checks syntax, skips whole values (iteratively, with a depth limit),
/// and hands out byte ranges; callers decode only what they need (a string, an integer).
///
/// What it accepts, exactly as RFC 8259 says:
/// - whitespace is space, tab, line feed and carriage return, and only between tokens (section 2);
/// - numbers are `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?` (section 6), so `01`, `1.`,
///   `-`, `+1`, `.5` fail;
/// - literals are `true`, `false`, `null`, in lowercase (section 3);
/// - strings hold no unescaped byte below 0x20, only the escapes `\" \\ \/ \b \f \n \r \t \uXXXX`
///   (section 7), and valid UTF-8 (section 8.1: no overlong forms, no surrogates, nothing above
///   U+10FFFF);
/// - lone surrogate escapes (`"\uD800"`) are **accepted**: section 8.2 allows them in the grammar,
///   and JavaScript peers produce them (`JSON.stringify("\uD800")`). Skipped values keep them as sent;
///   ``appendUnescaped(_:to:)`` decodes each to U+FFFD.
///
/// Nesting deeper than ``EnvelopeCodec/maxDepth`` fails, counted from the outermost container (depth 1).
///
/// Invariant: `index` never passes `bytes.count`. ``peek()`` returns 0 at the end: a byte that is
/// never valid outside a string, so every "unexpected byte" path also catches the end of input.
struct JSONScanner {
    /// The input; UTF-8 bytes of what should be one JSON text.
    let bytes: UnsafeRawBufferPointer
    /// The offset of the next byte to read.
    var index: Int = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// The content of a scanned string: offsets between its quotes, and whether it holds escapes.
    struct StringRange {
        var start: Int
        var end: Int
        var hasEscapes: Bool
    }

    // MARK: - Tokens

    /// The next byte, or 0 at the end of the input.
    @inline(__always)
    func peek() -> UInt8 {
        index < bytes.count ? bytes[index] : 0
    }

    /// Skips JSON whitespace (RFC 8259 section 2: space, tab, line feed, carriage return).
    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// Consumes `byte`, or throws an "unexpected" error at the current offset.
    @inline(__always)
    mutating func expect(_ byte: UInt8) throws(EnvelopeError) {
        guard peek() == byte else { throw unexpected() }
        index += 1
    }

    /// Skips trailing whitespace and requires the end of the input: RFC 8259 section 2,
    /// `JSON-text = ws value ws`, so nothing may follow the value.
    mutating func expectEnd() throws(EnvelopeError) {
        skipWhitespace()
        guard index == bytes.count else { throw unexpected() }
    }

    /// The error for the byte at the current offset (or the end of the input).
    func unexpected() -> EnvelopeError {
        guard index < bytes.count else { return .invalidJSON("unexpected end of input at offset \(index)") }
        return .invalidJSON("unexpected \(Self.describe(bytes[index])) at offset \(index)")
    }

    /// `character 'x'` for printable ASCII, `byte 0x0A` otherwise.
    static func describe(_ byte: UInt8) -> String {
        if byte > 0x20 && byte < 0x7F {
            return "character '\(Character(Unicode.Scalar(byte)))'"
        }
        let hex = String(byte, radix: 16, uppercase: true)
        return "byte 0x" + (hex.count == 1 ? "0" + hex : hex)
    }

    // MARK: - Values

    /// Skips one complete JSON value, validating all of it; leading whitespace is skipped too.
    ///
    /// No recursion: the kinds of the open containers live in a 128-bit stack.
    /// - Parameter depth: containers already open around the value (0 at the top level).
    /// - Throws: ``EnvelopeError/invalidJSON(_:)`` for bad syntax or nesting deeper than
    ///   ``EnvelopeCodec/maxDepth``.
    mutating func skipValue(depth: Int) throws(EnvelopeError) {
        var open = ContainerStack()
        value: while true {
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: "{"):
                try checkDepth(depth + open.count + 1)
                index += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "}") {
                    index += 1
                } else {
                    open.push(isObject: true)
                    try skipKey()
                    continue value
                }
            case UInt8(ascii: "["):
                try checkDepth(depth + open.count + 1)
                index += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "]") {
                    index += 1
                } else {
                    open.push(isObject: false)
                    continue value
                }
            case UInt8(ascii: "\""):
                _ = try scanString()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                _ = try scanNumber()
            case UInt8(ascii: "t"):
                try scanLiteral("true")
            case UInt8(ascii: "f"):
                try scanLiteral("false")
            case UInt8(ascii: "n"):
                try scanLiteral("null")
            default:
                throw unexpected()
            }
            // A value ended: close containers until one continues with a comma.
            while open.count > 0 {
                skipWhitespace()
                let byte = peek()
                if byte == UInt8(ascii: ",") {
                    index += 1
                    if open.topIsObject {
                        skipWhitespace()
                        try skipKey()
                    }
                    continue value
                }
                guard byte == (open.topIsObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else { throw unexpected() }
                index += 1
                open.pop()
            }
            return
        }
    }

    /// Fails when a container would open at `depth` (1 = outermost) beyond ``EnvelopeCodec/maxDepth``.
    @inline(__always)
    func checkDepth(_ depth: Int) throws(EnvelopeError) {
        guard depth <= EnvelopeCodec.maxDepth else {
            throw .invalidJSON("nesting deeper than \(EnvelopeCodec.maxDepth) at offset \(index)")
        }
    }

    /// Skips an object key and its colon; `index` must be at the key's opening quote.
    @inline(__always)
    private mutating func skipKey() throws(EnvelopeError) {
        guard peek() == UInt8(ascii: "\"") else { throw unexpected() }
        _ = try scanString()
        skipWhitespace()
        try expect(UInt8(ascii: ":"))
    }

    /// Scans a string whose opening quote is at `index`; leaves `index` after the closing quote.
    /// - Returns: the range of its content, between the quotes, still escaped.
    mutating func scanString() throws(EnvelopeError) -> StringRange {
        index += 1
        let start = index
        var hasEscapes = false
        let count = bytes.count
        while true {
            // Eight plain ASCII bytes at a time: none is a quote, a backslash, a control or
            // non-ASCII. A word with such a byte moves `index` straight to the first one.
            while index + 8 <= count {
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                let attention = Self.attentionBits(word)
                guard attention == 0 else {
                    index += attention.trailingZeroBitCount >> 3
                    break
                }
                index += 8
            }
            guard index < count else { throw .invalidJSON("unterminated string at offset \(start - 1)") }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return StringRange(start: start, end: index - 1, hasEscapes: hasEscapes)
            case UInt8(ascii: "\\"):
                hasEscapes = true
                try skipEscape()
            case 0x00..<0x20:
                // RFC 8259 section 7: control characters MUST be escaped.
                throw .invalidJSON("unescaped control character \(Self.describe(byte)) in string at offset \(index)")
            case 0x20..<0x80:
                index += 1
            default:
                try skipUTF8Scalar(lead: byte)
            }
        }
    }

    /// The high bit of each byte of `word` (byte 0 least significant) that is a quote, a
    /// backslash, below 0x20 or non-ASCII; zero when there is none. (The classic "has zero
    /// byte" test: a borrow may mark a byte above a hit, never one below it, so the lowest bit
    /// set is exactly the first such byte.)
    @inline(__always)
    private static func attentionBits(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        let zeroInQuotes = (quotes &- ones) & ~quotes
        let zeroInBackslashes = (backslashes &- ones) & ~backslashes
        let belowSpace = word &- (ones &* 0x20)
        return (zeroInQuotes | zeroInBackslashes | belowSpace | word) & highs
    }

    /// Skips one escape sequence; `index` is at its backslash.
    private mutating func skipEscape() throws(EnvelopeError) {
        let escapeStart = index
        index += 1
        switch peek() {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
             UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 1
        case UInt8(ascii: "u"):
            index += 1
            for _ in 0..<4 {
                guard Self.hexValue(peek()) != nil else {
                    throw .invalidJSON("invalid \\u escape at offset \(escapeStart)")
                }
                index += 1
            }
        default:
            throw .invalidJSON("invalid escape at offset \(escapeStart)")
        }
    }

    /// Skips one multi-byte UTF-8 scalar (RFC 3629); `index` is at its lead byte.
    private mutating func skipUTF8Scalar(lead: UInt8) throws(EnvelopeError) {
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        let continuations: Int
        switch lead {
        case 0xC2...0xDF: continuations = 1
        case 0xE0: continuations = 2; lower = 0xA0                   // no overlong 3-byte forms
        case 0xE1...0xEC, 0xEE...0xEF: continuations = 2
        case 0xED: continuations = 2; upper = 0x9F                   // no UTF-16 surrogates
        case 0xF0: continuations = 3; lower = 0x90                   // no overlong 4-byte forms
        case 0xF1...0xF3: continuations = 3
        case 0xF4: continuations = 3; upper = 0x8F                   // nothing above U+10FFFF
        default: throw .invalidJSON("invalid UTF-8 at offset \(index)")  // 0x80-0xC1, 0xF5-0xFF never lead
        }
        var next = index + 1
        for _ in 0..<continuations {
            guard next < bytes.count, bytes[next] >= lower, bytes[next] <= upper else {
                throw .invalidJSON("invalid UTF-8 at offset \(index)")
            }
            lower = 0x80
            upper = 0xBF
            next += 1
        }
        index = next
    }

    /// Scans a number (RFC 8259 section 6) starting at `index`.
    /// - Returns: whether it is a plain non-negative integer: digits only, no sign, fraction or exponent.
    mutating func scanNumber() throws(EnvelopeError) -> Bool {
        var isPlainInteger = true
        if peek() == UInt8(ascii: "-") {
            isPlainInteger = false
            index += 1
        }
        switch peek() {
        case UInt8(ascii: "0"):
            index += 1                      // a leading zero stands alone: "01" fails at the "1"
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            skipDigits()
        default:
            throw unexpected()
        }
        if peek() == UInt8(ascii: ".") {
            isPlainInteger = false
            index += 1
            try requireDigits()
        }
        if peek() | 0x20 == UInt8(ascii: "e") {
            isPlainInteger = false
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            try requireDigits()
        }
        return isPlainInteger
    }

    @inline(__always)
    private mutating func skipDigits() {
        while index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 { index += 1 }
    }

    @inline(__always)
    private mutating func requireDigits() throws(EnvelopeError) {
        guard peek() &- UInt8(ascii: "0") < 10 else { throw unexpected() }
        skipDigits()
    }

    /// Scans `literal` (`true`, `false` or `null`) at `index`.
    private mutating func scanLiteral(_ literal: StaticString) throws(EnvelopeError) {
        let length = literal.utf8CodeUnitCount
        let start = literal.utf8Start
        for offset in 0..<length {
            guard peek() == start[offset] else { throw unexpected() }
            index += 1
        }
    }

    // MARK: - Decoding

    /// The value of a hexadecimal digit, or nil.
    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte &- UInt8(ascii: "a") &+ 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte &- UInt8(ascii: "A") &+ 10)
        default: return nil
        }
    }

    /// The string's content, unescaped; a string without escapes is made straight from its bytes.
    func decodeString(_ range: StringRange) -> String {
        guard range.hasEscapes else {
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range.start..<range.end]), as: UTF8.self)
        }
        var utf8: [UInt8] = []
        appendUnescaped(range, to: &utf8)
        return String(decoding: utf8, as: UTF8.self)
    }

    /// Appends the UTF-8 of a scanned string's content with its escapes decoded. A surrogate pair
    /// (`\uD83D\uDE00`) becomes one scalar; a lone surrogate becomes U+FFFD.
    /// - Precondition: `range` came from ``scanString()`` on these bytes (so every escape is valid).
    func appendUnescaped(_ range: StringRange, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + range.end - range.start)
        var i = range.start
        while i < range.end {
            let byte = bytes[i]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                i += 1
                continue
            }
            let escaped = bytes[i + 1]
            i += 2
            switch escaped {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(at: i)
                i += 4
                if scalar & 0xFC00 == 0xD800 {
                    // A high surrogate: a low one must follow as the next escape.
                    if i + 6 <= range.end, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u"),
                       case let low = hex4(at: i + 2), low & 0xFC00 == 0xDC00 {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    } else {
                        scalar = 0xFFFD
                    }
                } else if scalar & 0xFC00 == 0xDC00 {
                    scalar = 0xFFFD
                }
                Self.appendUTF8(scalar, to: &out)
            default:
                out.append(escaped)         // \" \\ \/
            }
        }
    }

    /// The four hex digits at `offset`, already validated.
    @inline(__always)
    private func hex4(at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for k in 0..<4 { value = value << 4 | (Self.hexValue(bytes[offset + k]) ?? 0) }
        return value
    }

    /// Appends the UTF-8 encoding of `scalar` (a valid, non-surrogate scalar value).
    private static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | scalar >> 6))
            out.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | scalar >> 12))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        default:
            out.append(UInt8(0xF0 | scalar >> 18))
            out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}

/// The kinds of the open containers while skipping a value, one bit each (1 = object): no
/// allocation, no recursion. 128 bits hold ``EnvelopeCodec/maxDepth`` levels; the depth check
/// runs before every push.
private struct ContainerStack {
    private var low: UInt64 = 0
    private var high: UInt64 = 0
    private(set) var count = 0

    @inline(__always)
    var topIsObject: Bool {
        let bit = count - 1
        return (bit < 64 ? low >> UInt64(bit) : high >> UInt64(bit - 64)) & 1 == 1
    }

    @inline(__always)
    mutating func push(isObject: Bool) {
        assert(count < 128, "EnvelopeCodec.maxDepth must not exceed 128")
        let bit = count
        let mask: UInt64 = isObject ? 1 : 0
        if bit < 64 {
            low = low & ~(1 << UInt64(bit)) | mask << UInt64(bit)
        } else {
            high = high & ~(1 << UInt64(bit - 64)) | mask << UInt64(bit - 64)
        }
        count += 1
    }

    @inline(__always)
    mutating func pop() {
        count -= 1
    }
}
