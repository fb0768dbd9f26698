/// `RawJSON` as a member of a `Decodable` type, e.g. `struct Job: Decodable { let payload: RawJSON }`.
///
/// A `Decoder` does not expose the bytes it read, so the value is decoded into a tree and written
/// back as compact JSON: object keys sorted, numbers as Swift prints them (`1e-05`), strings with
/// the escapes of ``EnvelopeCodec/appendJSONString(_:to:)``. ``RawJSON/decode(_:)`` asked for
/// `RawJSON` itself does not come here: it returns the value unchanged.
extension RawJSON: Decodable {
    /// Decodes any JSON value and keeps it as compact JSON bytes.
    /// - Throws: a `DecodingError` when the value is not JSON (e.g. a non-finite number).
    public init(from decoder: any Decoder) throws {
        var bytes: [UInt8] = []
        try JSONTree(from: decoder).write(to: &bytes)
        self.init(unchecked: bytes)
    }
}

/// A decoded JSON value, only to be written back as bytes.
private enum JSONTree: Decodable {
    case null
    case bool(Bool)
    case integer(Int64)
    case unsigned(UInt64)
    case double(Double)
    case string(String)
    case array([JSONTree])
    case object([String: JSONTree])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(UInt64.self) {
            self = .unsigned(value)
        } else if let value = try? container.decode(Double.self) {
            guard value.isFinite else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a finite number")
            }
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONTree].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONTree].self))
        }
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .integer(let value): out.append(contentsOf: String(value).utf8)
        case .unsigned(let value): out.append(contentsOf: String(value).utf8)
        case .double(let value): out.append(contentsOf: "\(value)".utf8)
        case .string(let value): EnvelopeCodec.appendJSONString(value, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (offset, element) in elements.enumerated() {
                if offset > 0 { out.append(UInt8(ascii: ",")) }
                element.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (offset, key) in members.keys.sorted().enumerated() {
                if offset > 0 { out.append(UInt8(ascii: ",")) }
                EnvelopeCodec.appendJSONString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                members[key]?.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}
