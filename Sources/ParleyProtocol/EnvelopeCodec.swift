/// Reads and writes Parley envelopes: the JSON objects carried by WebSocket text frames.
///
/// Decoding scans the bytes once. It validates the whole payload as JSON (RFC 8259), decodes only
/// the event name, the ids and the error message, and keeps `data` as the exact bytes sent.
/// Encoding writes compact JSON in a fixed key order.
///
/// ```swift
/// let envelope = try EnvelopeCodec.decode(Array(#"{"event":"chat","data":{"text":"hi"},"id":7}"#.utf8))
/// // .event(name: "chat", data: {"text":"hi"}, id: 7)
/// let reply = EnvelopeCodec.encode(.ack(id: 7, data: RawJSON.null))   // {"ack":7,"data":null}
/// ```
public enum EnvelopeCodec {
    /// The deepest nesting accepted, counting the envelope object itself as depth 1 (so `data`
    /// may nest 127 deep). 128 is what real messages never reach and what keeps a hostile
    /// `[[[[...` cheap to refuse; the scanner's container stack holds exactly 128 levels, so this
    /// must not grow past 128.
    public static let maxDepth: Int = 128

    /// The largest id accepted: 2^53-1, the largest integer a JavaScript peer holds exactly.
    static let maxID: UInt64 = (1 << 53) - 1

    // MARK: - Decoding

    /// Decodes one text-frame payload.
    ///
    /// The rules: the top level is an object; exactly one of `"event"` (a string) or `"ack"` (an
    /// integer in 0...2^53-1) is present; `"id"` (same range) only with `"event"`; `"data"` is any
    /// JSON value, kept as the exact bytes sent; `"error"` only with `"ack"` and without `"data"`,
    /// an object with a string `"message"`; other keys are ignored (forward compatibility); a known
    /// key twice is an error. Ids are plain digits: `1.0`, `1e2` and `-0` are not ids.
    ///
    /// Keys and strings may hold any escape. Lone surrogate escapes (`"\uD800"`) are accepted, as
    /// RFC 8259 section 8.2 allows and JavaScript peers send: `data` keeps them as sent, and in the
    /// event name or error message each becomes U+FFFD. Nesting deeper than ``maxDepth`` is refused
    /// without recursion.
    ///
    /// ```swift
    /// let envelope = try text.withUTF8 { try EnvelopeCodec.decode(UnsafeRawBufferPointer($0)) }
    /// ```
    /// - Parameter bytes: the UTF-8 payload of one text message.
    /// - Returns: the envelope.
    /// - Throws: ``EnvelopeError/invalidJSON(_:)`` when the payload is not one valid JSON text
    ///   (checked first, over the whole payload); otherwise the first envelope rule broken.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(EnvelopeError) -> Envelope {
        var offset: String?
        return try decode(bytes, offset: &offset)
    }

    /// Decodes one text-frame payload and its `offset` (Protocol.md 5.5): the position in the
    /// namespace's stream of recoverable events that a server with connection state recovery
    /// adds to the events it sends.
    ///
    /// ```swift
    /// var offset: String?
    /// let envelope = try EnvelopeCodec.decode(raw, offset: &offset)   // {"event":"n","offset":"41"}: offset "41"
    /// ```
    /// - Parameters:
    ///   - bytes: the UTF-8 payload of one text message.
    ///   - offset: set to the envelope's `offset` when it has a string one, else nil.
    /// - Returns: the envelope.
    /// - Throws: ``EnvelopeError``, as ``decode(_:)-(UnsafeRawBufferPointer)`` does.
    public static func decode(_ bytes: UnsafeRawBufferPointer, offset: inout String?) throws(EnvelopeError) -> Envelope {
        var scanner = JSONScanner(bytes)
        scanner.skipWhitespace()
        guard scanner.peek() == UInt8(ascii: "{") else {
            // Valid JSON that is not an object is `notAnObject`; anything else is not JSON at all.
            try scanner.skipValue(depth: 0)
            try scanner.expectEnd()
            throw .notAnObject
        }
        scanner.index += 1
        var fields = Fields()
        scanner.skipWhitespace()
        if scanner.peek() == UInt8(ascii: "}") {
            scanner.index += 1
        } else {
            members: while true {
                scanner.skipWhitespace()
                guard scanner.peek() == UInt8(ascii: "\"") else { throw scanner.unexpected() }
                let key = Key(try scanner.scanString(), in: scanner)
                scanner.skipWhitespace()
                try scanner.expect(UInt8(ascii: ":"))
                scanner.skipWhitespace()
                try fields.read(key, from: &scanner)
                scanner.skipWhitespace()
                switch scanner.peek() {
                case UInt8(ascii: ","): scanner.index += 1
                case UInt8(ascii: "}"): scanner.index += 1; break members
                default: throw scanner.unexpected()
                }
            }
        }
        try scanner.expectEnd()
        offset = fields.offset
        return try fields.envelope()
    }

    /// Decodes one text-frame payload held in an array; see ``decode(_:)-(UnsafeRawBufferPointer)``.
    /// - Parameter bytes: the UTF-8 payload of one text message.
    /// - Returns: the envelope.
    /// - Throws: ``EnvelopeError``, as the buffer variant does.
    public static func decode(_ bytes: [UInt8]) throws(EnvelopeError) -> Envelope {
        // `withUnsafeBytes` only rethrows untyped errors: carry the typed one out in a `Result`.
        try bytes.withUnsafeBytes { raw in Result { () throws(EnvelopeError) in try decode(raw) } }.get()
    }

    /// The keys the codec knows; everything else is `other` and ignored.
    private enum Key: UInt8 {
        case event, data, id, ack, error, message, offset, other

        /// The key as written in JSON, for error messages.
        var name: String { "\(self)" }

        /// The key's bit in ``Fields/seen``.
        var bit: UInt8 { 1 << rawValue }

        /// Classifies a scanned key, decoding its escapes first if it has any (rare).
        init(_ range: JSONScanner.StringRange, in scanner: JSONScanner) {
            guard range.hasEscapes else {
                self.init(UnsafeRawBufferPointer(rebasing: scanner.bytes[range.start..<range.end]))
                return
            }
            var utf8: [UInt8] = []
            scanner.appendUnescaped(range, to: &utf8)
            self = utf8.withUnsafeBytes { Key($0) }
        }

        init(_ name: UnsafeRawBufferPointer) {
            switch name.count {
            case 2 where Key.equal(name, "id"): self = .id
            case 3 where Key.equal(name, "ack"): self = .ack
            case 4 where Key.equal(name, "data"): self = .data
            case 5 where Key.equal(name, "event"): self = .event
            case 5 where Key.equal(name, "error"): self = .error
            case 6 where Key.equal(name, "offset"): self = .offset
            case 7 where Key.equal(name, "message"): self = .message
            default: self = .other
            }
        }

        private static func equal(_ name: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
            let expected = literal.utf8Start
            for offset in 0..<name.count where name[offset] != expected[offset] { return false }
            return true
        }
    }

    /// What the members of an envelope said so far, and the first rule they broke. A broken rule
    /// is thrown only once the whole payload proved to be valid JSON.
    private struct Fields {
        var name: String?
        var ack: UInt64?
        var id: UInt64?
        var data: RawJSON?
        var errorMessage: String?
        /// The `offset` of an event (Protocol.md 5.5); not part of ``Envelope``.
        var offset: String?
        /// The known keys met so far, one ``Key/bit`` each (a bit mask: no allocation).
        var seen: UInt8 = 0
        var problem: EnvelopeError?

        mutating func note(_ error: EnvelopeError) {
            if problem == nil { problem = error }
        }

        /// Reads the value of `key`; `scanner` is at the value's first byte.
        mutating func read(_ key: Key, from scanner: inout JSONScanner) throws(EnvelopeError) {
            switch key {
            case .event:
                guard firstTime(.event) else { return try scanner.skipValue(depth: 1) }
                if scanner.peek() == UInt8(ascii: "\"") {
                    name = scanner.decodeString(try scanner.scanString())
                } else {
                    try scanner.skipValue(depth: 1)
                    note(.eventNotString)
                }
            case .ack:
                guard firstTime(.ack) else { return try scanner.skipValue(depth: 1) }
                ack = try EnvelopeCodec.readID(&scanner)
                if ack == nil { note(.invalidID) }
            case .id:
                guard firstTime(.id) else { return try scanner.skipValue(depth: 1) }
                id = try EnvelopeCodec.readID(&scanner)
                if id == nil { note(.invalidID) }
            case .data:
                guard firstTime(.data) else { return try scanner.skipValue(depth: 1) }
                let start = scanner.index
                try scanner.skipValue(depth: 1)
                data = RawJSON(unchecked: EnvelopeCodec.copy(scanner.bytes, start..<scanner.index))
            case .error:
                guard firstTime(.error) else { return try scanner.skipValue(depth: 1) }
                try readError(from: &scanner)
            case .offset:
                guard firstTime(.offset) else { return try scanner.skipValue(depth: 1) }
                // Only a string is an offset; another value is ignored, as an unknown key would be.
                if scanner.peek() == UInt8(ascii: "\"") {
                    offset = scanner.decodeString(try scanner.scanString())
                } else {
                    try scanner.skipValue(depth: 1)
                }
            case .message, .other:
                try scanner.skipValue(depth: 1)   // unknown keys: forward compatibility
            }
        }

        /// Records a known key; a second time it notes a conflict and returns false.
        private mutating func firstTime(_ key: Key) -> Bool {
            guard seen & key.bit == 0 else {
                note(.conflictingKeys("duplicate key \"\(key.name)\""))
                return false
            }
            seen |= key.bit
            return true
        }

        /// Reads `{"message":"..."}`, ignoring its other keys.
        private mutating func readError(from scanner: inout JSONScanner) throws(EnvelopeError) {
            guard scanner.peek() == UInt8(ascii: "{") else {
                try scanner.skipValue(depth: 1)
                return note(.invalidError)
            }
            try scanner.checkDepth(2)
            scanner.index += 1
            scanner.skipWhitespace()
            if scanner.peek() == UInt8(ascii: "}") {
                scanner.index += 1
            } else {
                members: while true {
                    scanner.skipWhitespace()
                    guard scanner.peek() == UInt8(ascii: "\"") else { throw scanner.unexpected() }
                    let key = Key(try scanner.scanString(), in: scanner)
                    scanner.skipWhitespace()
                    try scanner.expect(UInt8(ascii: ":"))
                    scanner.skipWhitespace()
                    if key == .message, firstTime(.message), scanner.peek() == UInt8(ascii: "\"") {
                        errorMessage = scanner.decodeString(try scanner.scanString())
                    } else {
                        try scanner.skipValue(depth: 2)
                    }
                    scanner.skipWhitespace()
                    switch scanner.peek() {
                    case UInt8(ascii: ","): scanner.index += 1
                    case UInt8(ascii: "}"): scanner.index += 1; break members
                    default: throw scanner.unexpected()
                    }
                }
            }
            if errorMessage == nil { note(.invalidError) }
        }

        /// The envelope the members make, or the first rule they broke.
        func envelope() throws(EnvelopeError) -> Envelope {
            if let problem { throw problem }
            switch (name, ack) {
            case (let name?, nil):
                if seen & Key.error.bit != 0 { throw .conflictingKeys("\"error\" with \"event\"") }
                return .event(name: name, data: data, id: id)
            case (nil, let ack?):
                if seen & Key.id.bit != 0 { throw .conflictingKeys("\"id\" with \"ack\"") }
                guard let errorMessage else { return .ack(id: ack, data: data) }
                if seen & Key.data.bit != 0 { throw .conflictingKeys("\"error\" with \"data\"") }
                return .ackError(id: ack, message: errorMessage)
            case (nil, nil):
                throw .missingEvent
            case (_?, _?):
                throw .conflictingKeys("\"event\" with \"ack\"")
            }
        }
    }

    /// Reads an id: plain digits, at most 2^53-1. Returns nil for any other valid JSON value.
    private static func readID(_ scanner: inout JSONScanner) throws(EnvelopeError) -> UInt64? {
        let byte = scanner.peek()
        guard byte == UInt8(ascii: "-") || byte &- UInt8(ascii: "0") < 10 else {
            try scanner.skipValue(depth: 1)
            return nil
        }
        let start = scanner.index
        guard try scanner.scanNumber(), scanner.index - start <= 16 else { return nil }  // 2^53-1 has 16 digits
        var value: UInt64 = 0
        for offset in start..<scanner.index {
            value = value * 10 + UInt64(scanner.bytes[offset] &- UInt8(ascii: "0"))
        }
        return value <= maxID ? value : nil
    }

    /// A copy of `range` of `bytes` as an array (one memcpy). `Array(_:)` is specialized where
    /// it is used; `Array(unsafeUninitializedCapacity:)` allocates through an unspecialized
    /// runtime path that looks the storage type up per call (about 500 instructions).
    private static func copy(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    // MARK: - Encoding

    /// Encodes an envelope as compact JSON, keys in this order: `{"event":NAME,"data":DATA,"id":N}`,
    /// `{"ack":N,"data":DATA}`, `{"ack":N,"error":{"message":MSG}}`; `data` and `id` are left out
    /// when nil. `data` is written as is.
    ///
    /// Ids above 2^53-1 are written, but no Parley peer decodes them: allocate ids from 1 upward.
    ///
    /// ```swift
    /// let bytes = EnvelopeCodec.encode(.event(name: "chat", data: try RawJSON(json: #"{"text":"hi"}"#), id: nil))
    /// // {"event":"chat","data":{"text":"hi"}}
    /// ```
    /// - Parameter envelope: the envelope to write.
    /// - Returns: the UTF-8 bytes of one text-frame payload.
    public static func encode(_ envelope: Envelope) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedCount(envelope))
        write(envelope, to: &out)
        return out
    }

    /// The exact size of ``encode(_:)``'s output for `envelope`, computed without encoding it.
    ///
    /// ```swift
    /// let count = EnvelopeCodec.encodedCount(envelope)   // then encode(_:into:) writes that many bytes
    /// ```
    /// - Parameter envelope: the envelope to measure.
    /// - Returns: the byte count of its encoding.
    public static func encodedCount(_ envelope: Envelope) -> Int {
        var counter = ByteCounter()
        write(envelope, to: &counter)
        return counter.count
    }

    /// Writes ``encode(_:)``'s output for `envelope` into `destination` (a send buffer),
    /// with no intermediate array.
    ///
    /// ```swift
    /// let count = EnvelopeCodec.encodedCount(envelope)
    /// connection.send(textUTF8Count: count) { EnvelopeCodec.encode(envelope, into: $0) }
    /// ```
    /// - Parameters:
    ///   - envelope: the envelope to write.
    ///   - destination: exactly ``encodedCount(_:)`` bytes of room.
    public static func encode(_ envelope: Envelope, into destination: UnsafeMutableRawBufferPointer) {
        var writer = ByteWriter(destination)
        write(envelope, to: &writer)
        precondition(writer.offset == destination.count, "destination size differs from encodedCount")
    }

    /// The one encoding routine behind ``encode(_:)``, ``encodedCount(_:)`` and
    /// ``encode(_:into:)``.
    private static func write(_ envelope: Envelope, to out: inout some EnvelopeSink) {
        switch envelope {
        case let .event(name, data, id):
            appendLiteral(#"{"event":"#, to: &out)
            writeJSONString(name, to: &out)
            if let data {
                appendLiteral(#","data":"#, to: &out)
                data.bytes.withUnsafeBytes { out.append($0) }
            }
            if let id {
                appendLiteral(#","id":"#, to: &out)
                appendDecimal(id, to: &out)
            }
        case let .ack(id, data):
            appendLiteral(#"{"ack":"#, to: &out)
            appendDecimal(id, to: &out)
            if let data {
                appendLiteral(#","data":"#, to: &out)
                data.bytes.withUnsafeBytes { out.append($0) }
            }
        case let .ackError(id, message):
            appendLiteral(#"{"ack":"#, to: &out)
            appendDecimal(id, to: &out)
            appendLiteral(#","error":{"message":"#, to: &out)
            writeJSONString(message, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Encodes an event with an `offset` (Protocol.md 5.5) after its other keys:
    /// `{"event":NAME,"data":DATA,"offset":"OFFSET"}`.
    ///
    /// ```swift
    /// let bytes = EnvelopeCodec.encode(.event(name: "news", data: nil, id: nil), offset: "41")
    /// // {"event":"news","offset":"41"}
    /// ```
    /// - Parameters:
    ///   - envelope: the envelope to write.
    ///   - offset: the offset, a string; nil writes none.
    /// - Returns: the UTF-8 bytes of one text-frame payload.
    public static func encode(_ envelope: Envelope, offset: String?) -> [UInt8] {
        let bytes = encode(envelope)
        guard let offset else { return bytes }
        return appendingOffset(offset, to: bytes)
    }

    /// An encoded envelope with `,"offset":"OFFSET"` added before its closing brace: the
    /// envelope is not encoded again, its bytes are copied once.
    /// - Parameters:
    ///   - offset: the offset, a string.
    ///   - encoded: an envelope as ``encode(_:)`` wrote it (a JSON object, `}` last).
    /// - Returns: the envelope with the offset.
    public static func appendingOffset(_ offset: String, to encoded: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encoded.count + offset.utf8.count + 12)
        out.append(contentsOf: encoded.dropLast())
        appendLiteral(#","offset":"#, to: &out)
        appendJSONString(offset, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Appends the JSON string literal for `text`, quotes included.
    ///
    /// Escapes `"` and `\`, and control characters below 0x20 as `\n \r \t \b \f` or `\u00XX`
    /// (RFC 8259 section 7); everything else, non-ASCII included, is written as raw UTF-8.
    ///
    /// ```swift
    /// var out: [UInt8] = []
    /// EnvelopeCodec.appendJSONString("say \"hi\"\n", to: &out)   // "say \"hi\"\n"
    /// ```
    /// - Parameters:
    ///   - text: the string to write.
    ///   - out: the array the literal is appended to.
    public static func appendJSONString(_ text: String, to out: inout [UInt8]) {
        writeJSONString(text, to: &out)
    }

    private static func writeJSONString(_ text: String, to out: inout some EnvelopeSink) {
        var text = text
        out.append(UInt8(ascii: "\""))
        text.withUTF8 { utf8 in
            var runStart = 0
            for i in 0..<utf8.count {
                let byte = utf8[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[runStart..<i]))
                appendEscape(byte, to: &out)
                runStart = i + 1
            }
            out.append(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[runStart...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func appendEscape(_ byte: UInt8, to out: inout some EnvelopeSink) {
        out.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
        case 0x08: out.append(UInt8(ascii: "b"))
        case 0x09: out.append(UInt8(ascii: "t"))
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0C: out.append(UInt8(ascii: "f"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        default:
            let hexDigits: StaticString = "0123456789abcdef"
            appendLiteral("u00", to: &out)
            out.append(hexDigits.utf8Start[Int(byte >> 4)])
            out.append(hexDigits.utf8Start[Int(byte & 0x0F)])
        }
    }

    @inline(__always)
    private static func appendLiteral(_ literal: StaticString, to out: inout some EnvelopeSink) {
        out.append(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Appends `value` in decimal, without going through `String`.
    private static func appendDecimal(_ value: UInt64, to out: inout some EnvelopeSink) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // room for UInt64.max's 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            var remaining = value
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
            } while remaining > 0
            out.append(UnsafeRawBufferPointer(rebasing: buffer[start...]))
        }
    }
}

/// Where the encoder's bytes go: an array, a counter (to size a buffer first) or a buffer.
private protocol EnvelopeSink {
    mutating func append(_ byte: UInt8)
    mutating func append(_ bytes: UnsafeRawBufferPointer)
}

extension Array: EnvelopeSink where Element == UInt8 {
    @inline(__always)
    fileprivate mutating func append(_ bytes: UnsafeRawBufferPointer) {
        append(contentsOf: bytes)
    }
}

/// Counts the bytes an encoding would write.
private struct ByteCounter: EnvelopeSink {
    var count = 0

    @inline(__always)
    mutating func append(_ byte: UInt8) { count += 1 }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) { count += bytes.count }
}

/// Writes into a buffer sized by ``ByteCounter``; the bound is checked on every write.
private struct ByteWriter: EnvelopeSink {
    let buffer: UnsafeMutableRawBufferPointer
    var offset = 0

    init(_ buffer: UnsafeMutableRawBufferPointer) {
        self.buffer = buffer
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        precondition(offset < buffer.count, "envelope larger than its buffer")
        buffer[offset] = byte
        offset += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= buffer.count - offset, "envelope larger than its buffer")
        guard let source = bytes.baseAddress, let base = buffer.baseAddress, bytes.count > 0 else { return }
        (base + offset).copyMemory(from: source, byteCount: bytes.count)
        offset += bytes.count
    }
}
