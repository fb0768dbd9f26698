import Foundation

/// The arguments of one event or acknowledgement: Socket.IO's argument list, which Parley's
/// envelope carries as a single `data` value.
///
/// The mapping (Protocol.md, "Socket.IO clients"):
///
/// | Socket.IO arguments | Parley `data` |
/// | --- | --- |
/// | none: `["ev"]` | absent (`nil`; handlers asking for a value see `null`) |
/// | one: `["ev", a]` | `a`, the same bytes |
/// | several: `["ev", a, b, c]` | the array `[a,b,c]` |
///
/// and the other way, an envelope's `data` is one argument (none when absent). Handlers that
/// need the exact list ask for `EventArguments`; typed handlers of two or three parameters take
/// the arguments in order (or the elements of a one-argument array, for envelope clients).
///
/// Values stay raw JSON: nothing is decoded until a handler asks for a type.
///
/// ```swift
/// socket.on("move") { (arguments: EventArguments) in
///     let x: Int = try arguments.decode(0), y: Int = try arguments.decode(1)
/// }
/// ```
public struct EventArguments: Sendable, Equatable {
    enum Storage: Sendable, Equatable {
        case none
        case one(RawJSON)
        /// A JSON array of `count` (2 or more) values.
        case several(RawJSON, count: Int)
    }

    var storage: Storage
    /// Binary attachments of an outgoing binary event, in placeholder order: the JSON holds
    /// `{"_placeholder":true,"num":N}` where attachment `N` goes. Empty for plain JSON.
    public internal(set) var attachments: [[UInt8]] = []

    init(storage: Storage, attachments: [[UInt8]] = []) {
        self.storage = storage
        self.attachments = attachments
    }

    /// No arguments.
    public init() {
        storage = .none
    }

    /// The arguments of an envelope's `data`: one argument, or none when `data` is nil.
    /// - Parameter data: the envelope's `data`.
    public init(data: RawJSON?) {
        storage = data.map { .one($0) } ?? .none
    }

    /// The arguments an envelope's `data` stands for when it carries an argument list: the
    /// elements of a JSON array (none for `[]`), or `data` as one argument when it is not an
    /// array (none when absent).
    /// - Parameter data: a JSON array of the arguments.
    public init(spreading data: RawJSON?) {
        guard let data, data.bytes.first == UInt8(ascii: "[") else {
            self.init(data: data)
            return
        }
        let count = Self.elementCount(of: data)
        switch count {
        case 0: self.init(storage: .none)
        case 1: self.init(storage: Self.element(0, of: data).map { .one($0) } ?? .none)
        default: self.init(storage: .several(data, count: count))
        }
    }

    /// Removes the last argument when it is a JSON string (a connection state recovery
    /// offset, which Socket.IO servers append to kept events) and returns it decoded.
    /// - Returns: the string, or nil (nothing removed) when the last argument is not a string.
    package mutating func removingLastString() -> String? {
        guard attachments.isEmpty, let last = self[count - 1], last.bytes.first == UInt8(ascii: "\""),
              let text = try? last.decode(String.self) else { return nil }
        switch storage {
        case .none: return nil
        case .one: storage = .none
        case .several(let array, let count):
            guard let rest = Self.droppingLastElement(of: array) else { return nil }
            storage = count == 2 ? (Self.element(0, of: rest).map { .one($0) } ?? .none) : .several(rest, count: count - 1)
        }
        return text
    }

    /// A valid JSON array of two or more elements without its last one (nil otherwise).
    static func droppingLastElement(of array: RawJSON) -> RawJSON? {
        array.bytes.withUnsafeBytes { raw -> RawJSON? in
            var scanner = JSONScanner(raw)
            guard scanner.peek() == UInt8(ascii: "[") else { return nil }
            scanner.index += 1
            var lastEnd: Int?   // where the element before the current one ended
            while true {
                scanner.skipWhitespace()
                guard (try? scanner.skipValue(depth: 1)) != nil else { return nil }
                let end = scanner.index
                scanner.skipWhitespace()
                if scanner.peek() == UInt8(ascii: ",") {
                    scanner.index += 1
                    lastEnd = end
                    continue
                }
                guard let lastEnd else { return nil }
                return RawJSON(unchecked: Array(raw[..<lastEnd]) + [UInt8(ascii: "]")])
            }
        }
    }

    /// Elements of a valid JSON array (0 when it is not one).
    static func elementCount(of array: RawJSON) -> Int {
        array.bytes.withUnsafeBytes { raw -> Int in
            var scanner = JSONScanner(raw)
            guard scanner.peek() == UInt8(ascii: "[") else { return 0 }
            scanner.index += 1
            var count = 0
            while true {
                scanner.skipWhitespace()
                if scanner.peek() == UInt8(ascii: "]") { return count }
                guard (try? scanner.skipValue(depth: 1)) != nil else { return count }
                count += 1
                scanner.skipWhitespace()
                guard scanner.peek() == UInt8(ascii: ",") else { return count }
                scanner.index += 1
            }
        }
    }

    /// Arguments given one by one.
    ///
    /// ```swift
    /// try socket.emit("move", EventArguments([RawJSON(json: "1"), RawJSON(json: "2")]))
    /// ```
    /// - Parameter values: the arguments, in order.
    public init(_ values: [RawJSON]) {
        switch values.count {
        case 0: storage = .none
        case 1: storage = .one(values[0])
        default:
            var bytes: [UInt8] = [UInt8(ascii: "[")]
            for (index, value) in values.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes.append(contentsOf: value.bytes)
            }
            bytes.append(UInt8(ascii: "]"))
            storage = .several(RawJSON(unchecked: bytes), count: values.count)
        }
    }

    /// One binary argument: a Socket.IO client receives it as a binary attachment, an envelope
    /// client as a base64 string.
    /// - Parameter bytes: the bytes.
    public init(binary bytes: [UInt8]) {
        storage = .one(RawJSON(unchecked: Array(#"{"_placeholder":true,"num":0}"#.utf8)))
        attachments = [bytes]
    }

    /// How many arguments there are.
    public var count: Int {
        switch storage {
        case .none: return 0
        case .one: return 1
        case .several(_, let count): return count
        }
    }

    /// Bytes of the arguments' JSON (a capacity hint for encoders).
    var byteCount: Int {
        switch storage {
        case .none: return 0
        case .one(let value): return value.bytes.count
        case .several(let array, _): return array.bytes.count
        }
    }

    /// Parley's `data` for these arguments: nil for none, the value for one, the JSON array
    /// for several.
    public var data: RawJSON? {
        switch storage {
        case .none: return nil
        case .one(let value): return value
        case .several(let array, _): return array
        }
    }

    /// The arguments as one JSON array, e.g. `[1,"a"]` (`[]` for none).
    public var array: RawJSON {
        switch storage {
        case .none: return RawJSON(unchecked: [UInt8(ascii: "["), UInt8(ascii: "]")])
        case .one(let value): return RawJSON(unchecked: [UInt8(ascii: "[")] + value.bytes + [UInt8(ascii: "]")])
        case .several(let array, _): return array
        }
    }

    /// The argument at `index`, or nil beyond the last.
    public subscript(index: Int) -> RawJSON? {
        guard index >= 0, index < count else { return nil }
        switch storage {
        case .none: return nil
        case .one(let value): return value
        case .several(let array, _): return Self.element(index, of: array)
        }
    }

    /// Decodes the argument at `index` (a missing argument decodes as `null`, as a JavaScript
    /// handler sees `undefined`).
    /// - Parameter index: the argument's position, from 0.
    /// - Returns: the decoded value.
    /// - Throws: what `JSONDecoder` throws.
    public func decode<T: Decodable>(_ index: Int, as type: T.Type = T.self) throws -> T {
        try (self[index] ?? .null).decode(T.self)
    }

    /// Argument `index` of `expected` that a typed handler takes: the argument itself, or, when
    /// one argument came and it is a JSON array (an envelope client's `data`), that array's element.
    package func parameter(_ index: Int, of expected: Int) -> RawJSON {
        if count == 1, expected > 1, case .one(let value) = storage, value.bytes.first == UInt8(ascii: "[") {
            return Self.element(index, of: value) ?? .null
        }
        return self[index] ?? .null
    }

    /// Element `index` of a valid JSON array, or nil.
    static func element(_ index: Int, of array: RawJSON) -> RawJSON? {
        array.bytes.withUnsafeBytes { raw -> RawJSON? in
            var scanner = JSONScanner(raw)
            guard scanner.peek() == UInt8(ascii: "[") else { return nil }
            scanner.index += 1
            var position = 0
            while true {
                scanner.skipWhitespace()
                if scanner.peek() == UInt8(ascii: "]") { return nil }
                let start = scanner.index
                guard (try? scanner.skipValue(depth: 1)) != nil else { return nil }
                if position == index { return RawJSON(unchecked: Array(raw[start..<scanner.index])) }
                position += 1
                scanner.skipWhitespace()
                guard scanner.peek() == UInt8(ascii: ",") else { return nil }
                scanner.index += 1
            }
        }
    }
}
