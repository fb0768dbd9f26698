import Foundation

/// One complete, validated JSON value, kept as its UTF-8 bytes: the server relays it without decoding.
///
/// Equality and hashing compare bytes, so `[1,2]` and `[1, 2]` differ.
///
/// ```swift
/// let raw = try RawJSON(json: #"{"text":"hi"}"#)
/// let message: ChatMessage = try raw.decode()
/// let again = try RawJSON(encoding: message)
/// ```
public struct RawJSON: Sendable, Hashable, CustomStringConvertible {
    /// The UTF-8 bytes of the value, without surrounding whitespace.
    public let bytes: [UInt8]

    /// The bytes of `null`.
    public static let null = RawJSON(unchecked: Array("null".utf8))

    /// Validates that `bytes` hold exactly one JSON value (RFC 8259); surrounding whitespace is
    /// allowed and trimmed. Strings must be valid UTF-8; lone surrogate escapes (`"\uD800"`) are
    /// accepted (RFC 8259 section 8.2). Nesting deeper than ``EnvelopeCodec/maxDepth`` is refused.
    ///
    /// ```swift
    /// let raw = try RawJSON(validating: payload[dataRange])
    /// ```
    /// - Parameter bytes: UTF-8 bytes of one JSON text.
    /// - Throws: ``EnvelopeError/invalidJSON(_:)`` saying where and why.
    public init(validating bytes: some Collection<UInt8>) throws(EnvelopeError) {
        let array = Array(bytes)
        // `withUnsafeBytes` only rethrows untyped errors: carry the typed one out in a `Result`.
        let range = try array.withUnsafeBytes { raw in
            Result { () throws(EnvelopeError) -> Range<Int> in
                var scanner = JSONScanner(raw)
                scanner.skipWhitespace()
                let start = scanner.index
                try scanner.skipValue(depth: 0)
                let end = scanner.index
                try scanner.expectEnd()
                return start..<end
            }
        }.get()
        self.bytes = range.count == array.count ? array : Array(array[range])
    }

    /// Parses a JSON text given as a string; the rules of ``init(validating:)``.
    /// - Parameter json: one JSON text, e.g. `#"{"text":"hi"}"#` or `"42"`.
    /// - Throws: ``EnvelopeError/invalidJSON(_:)`` saying where and why.
    public init(json: String) throws(EnvelopeError) {
        try self.init(validating: json.utf8)
    }

    /// Encodes `value` with `JSONEncoder`: compact, keys sorted (the same value always gives the
    /// same bytes), `/` not escaped. Top-level fragments such as strings and numbers are allowed.
    /// - Parameter value: any `Encodable` value.
    /// - Throws: what `JSONEncoder` throws (an `EncodingError`).
    public init<T: Encodable>(encoding value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.init(unchecked: [UInt8](try encoder.encode(value)))
    }

    /// Wraps bytes already known to be exactly one valid JSON value, without checking them.
    /// The codec uses it for `data` slices it has just validated.
    /// - Parameter bytes: one valid JSON value, without surrounding whitespace.
    public init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Decodes the value with `JSONDecoder` (top-level fragments allowed). Asking for `RawJSON`
    /// returns `self` without decoding.
    ///
    /// ```swift
    /// let message = try raw.decode(ChatMessage.self)
    /// ```
    /// - Parameter type: the type to decode.
    /// - Returns: the decoded value.
    /// - Throws: what `JSONDecoder` throws (a `DecodingError`).
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        if T.self == RawJSON.self, let raw = self as? T { return raw }
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    }

    /// Whether the value is `null`.
    public var isNull: Bool {
        bytes.count == 4 && bytes[0] == UInt8(ascii: "n") && bytes[1] == UInt8(ascii: "u")
            && bytes[2] == UInt8(ascii: "l") && bytes[3] == UInt8(ascii: "l")
    }

    /// The JSON text.
    public var description: String {
        String(decoding: bytes, as: UTF8.self)
    }
}

extension RawJSON {
    /// A short, readable account of why ``decode(_:)`` failed, for error acks and `error`
    /// events: `expected String at user.name`, `missing key 'text' at top level`.
    public static func describe(decodingError error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.isEmpty ? "top level" : context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case DecodingError.typeMismatch(let type, let context): return "expected \(type) at \(path(context))"
        case DecodingError.valueNotFound(let type, let context): return "missing \(type) at \(path(context))"
        case DecodingError.keyNotFound(let key, let context): return "missing key '\(key.stringValue)' at \(path(context))"
        case DecodingError.dataCorrupted(let context): return "corrupted data at \(path(context))"
        default: return String(describing: error)
        }
    }
}
