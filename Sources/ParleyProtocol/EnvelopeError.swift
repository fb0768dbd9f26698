/// Every error of the envelope layer: a text frame whose payload is not a Parley envelope.
///
/// JSON errors come first: ``EnvelopeCodec/decode(_:)-([UInt8])`` reports ``invalidJSON(_:)`` for any
/// payload that is not one valid JSON text (RFC 8259), and only then checks the envelope's shape,
/// reporting the first shape problem it met.
public enum EnvelopeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not valid JSON; the text says where and why,
    /// e.g. `unexpected character 'x' at offset 12`.
    case invalidJSON(String)
    /// The payload is valid JSON, but its top level is not an object.
    case notAnObject
    /// The object has neither `"event"` nor `"ack"`.
    case missingEvent
    /// The value of `"event"` is not a string.
    case eventNotString
    /// The value of `"id"` or `"ack"` is not an integer in 0...2^53-1.
    case invalidID
    /// The value of `"error"` is not an object with a string `"message"`.
    case invalidError
    /// Keys that cannot go together: `"event"` with `"ack"`, `"id"` with `"ack"`, `"error"` with
    /// `"event"` or `"data"`, or a known key twice. The text names them.
    case conflictingKeys(String)

    public var description: String {
        switch self {
        case .invalidJSON(let reason): return "invalid JSON: \(reason)"
        case .notAnObject: return "the envelope is not a JSON object"
        case .missingEvent: return "the envelope has neither \"event\" nor \"ack\""
        case .eventNotString: return "\"event\" is not a string"
        case .invalidID: return "\"id\" or \"ack\" is not an integer in 0...9007199254740991"
        case .invalidError: return "\"error\" is not an object with a string \"message\""
        case .conflictingKeys(let keys): return "conflicting keys: \(keys)"
        }
    }
}
