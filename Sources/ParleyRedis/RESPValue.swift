/// One RESP2 value (the Redis serialization protocol, version 2): what a Redis server sends
/// back, and what a command is sent as (an array of bulk strings).
public enum RESPValue: Sendable, Equatable, CustomStringConvertible {
    /// `+OK\r\n`: a status line.
    case simpleString(String)
    /// `-ERR message\r\n`: an error reply; the first word is the error code (`ERR`, `WRONGPASS`, ...).
    case error(String)
    /// `:42\r\n`.
    case integer(Int64)
    /// `$3\r\nfoo\r\n`; `$-1\r\n` (the null bulk string) is nil.
    case bulkString([UInt8]?)
    /// `*2\r\n...`; `*-1\r\n` (the null array) is nil.
    case array([RESPValue]?)

    /// The bytes of a bulk or simple string, nil for anything else.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): return bytes
        case .simpleString(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// The text of a bulk or simple string (invalid UTF-8 repaired), nil for anything else.
    public var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    public var description: String {
        switch self {
        case .simpleString(let text): return "+\(text)"
        case .error(let text): return "-\(text)"
        case .integer(let value): return ":\(value)"
        case .bulkString(nil): return "(nil)"
        case .bulkString(let bytes?): return "\"\(String(decoding: bytes, as: UTF8.self))\""
        case .array(nil): return "(nil array)"
        case .array(let values?): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        }
    }
}
