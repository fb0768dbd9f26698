import Foundation

/// Reads and writes Socket.IO v5 packets: the text of an Engine.IO message.
///
/// The layout is `<type>[<attachments>-][<namespace>,][<id>][<JSON payload>]`: a type digit
/// `0`...`6`; for binary packets (`5`, `6`) the number of attachments and `-`; the namespace
/// when it is not `/`, ended by `,`; the acknowledgement id in digits; the payload.
///
/// Decoding validates the whole payload as JSON (RFC 8259) in one scan and keeps the arguments
/// as raw slices: no value is decoded but the event name.
///
/// ```swift
/// let decoded = try SocketIOCodec.decode(Array(#"2/admin,7["add",1,2]"#.utf8))
/// // .event(namespace: "/admin", name: "add", arguments: [1,2], id: 7), no attachments
/// let text = SocketIOCodec.encode(.ack(namespace: "/admin", id: 7, arguments: EventArguments([RawJSON(json: "3")])))
/// // 3/admin,7[3]
/// ```
public enum SocketIOCodec {
    /// A decoded packet and the number of binary attachments that must follow it.
    public struct Decoded: Sendable, Equatable {
        public var packet: SocketIOPacket
        /// Binary messages that follow a `BINARY_EVENT`/`BINARY_ACK` (0 for other packets).
        public var attachments: Int
    }

    /// The most attachments a binary packet may announce. 10: an event rarely carries more
    /// than a couple of buffers, and each pending attachment is memory held for the sender.
    public static let defaultMaxAttachments = 10

    // MARK: - Decoding

    /// Decodes the text of one Engine.IO message.
    ///
    /// The payload rules of the reference parser: `CONNECT` an object or nothing;
    /// `DISCONNECT` nothing; `EVENT` an array whose first element is the event name (a string);
    /// `ACK` an array and an id; `CONNECT_ERROR` an object or a string (kept as
    /// `{"message":...}`).
    /// - Parameters:
    ///   - text: UTF-8 bytes of the message.
    ///   - maxAttachments: the most attachments accepted (``defaultMaxAttachments``).
    /// - Returns: the packet and how many attachments must follow.
    /// - Throws: ``SocketIOError/invalidPacket(_:)`` saying what is wrong;
    ///   ``SocketIOError/tooManyAttachments(limit:)``.
    public static func decode(_ text: [UInt8], maxAttachments: Int = defaultMaxAttachments) throws(SocketIOError) -> Decoded {
        try text.withUnsafeBytes { raw in
            Result { () throws(SocketIOError) -> Decoded in try decode(raw, maxAttachments: maxAttachments) }
        }.get()
    }

    /// Decodes the text of one Engine.IO message held in a buffer; see ``decode(_:maxAttachments:)-([UInt8],_)``.
    public static func decode(_ text: UnsafeRawBufferPointer, maxAttachments: Int = defaultMaxAttachments) throws(SocketIOError) -> Decoded {
        guard let typeByte = text.first, typeByte >= UInt8(ascii: "0"), typeByte <= UInt8(ascii: "6") else {
            throw .invalidPacket("unknown packet type")
        }
        let type = typeByte - UInt8(ascii: "0")
        var index = 1
        var attachments = 0
        if type == 5 || type == 6 {
            let start = index
            while index < text.count, text[index] &- UInt8(ascii: "0") < 10, index - start < 4 { index += 1 }
            guard index > start, index < text.count, text[index] == UInt8(ascii: "-") else {
                throw .invalidPacket("illegal attachments count")
            }
            for offset in start..<index { attachments = attachments * 10 + Int(text[offset] - UInt8(ascii: "0")) }
            guard attachments <= maxAttachments else { throw .tooManyAttachments(limit: maxAttachments) }
            index += 1
        }
        var namespace = "/"
        if index < text.count, text[index] == UInt8(ascii: "/") {
            let start = index
            while index < text.count, text[index] != UInt8(ascii: ",") { index += 1 }
            namespace = String(decoding: UnsafeRawBufferPointer(rebasing: text[start..<index]), as: UTF8.self)
            if index < text.count { index += 1 }   // the comma
        }
        var id: UInt64?
        if index < text.count, text[index] &- UInt8(ascii: "0") < 10 {
            let start = index
            var value: UInt64 = 0
            while index < text.count, text[index] &- UInt8(ascii: "0") < 10 {
                // 2^53-1, the largest id a JavaScript peer holds exactly, has 16 digits.
                guard index - start < 16 else { throw .invalidPacket("id out of range") }
                value = value * 10 + UInt64(text[index] - UInt8(ascii: "0"))
                index += 1
            }
            guard value <= EnvelopeCodec.maxID else { throw .invalidPacket("id out of range") }
            id = value
        }
        let payload = UnsafeRawBufferPointer(rebasing: text[index...])
        let packet: SocketIOPacket
        switch type {
        case 0:
            guard !payload.isEmpty else {
                packet = .connect(namespace: namespace, payload: nil)
                break
            }
            packet = .connect(namespace: namespace, payload: try object(payload, "CONNECT"))
        case 1:
            guard payload.isEmpty else { throw .invalidPacket("DISCONNECT with a payload") }
            packet = .disconnect(namespace: namespace)
        case 2, 5:
            let (name, arguments) = try readArguments(payload, named: true)
            packet = .event(namespace: namespace, name: name ?? "", arguments: arguments, id: id)
        case 3, 6:
            guard let id else { throw .invalidPacket("ACK without an id") }
            packet = .ack(namespace: namespace, id: id, arguments: try readArguments(payload, named: false).arguments)
        default:
            if payload.first == UInt8(ascii: "\"") {
                let message = try validated(payload, "CONNECT_ERROR")
                packet = .connectError(namespace: namespace, payload: RawJSON(unchecked: Array(#"{"message":"#.utf8) + message.bytes + [UInt8(ascii: "}")]))
            } else {
                packet = .connectError(namespace: namespace, payload: try object(payload, "CONNECT_ERROR"))
            }
        }
        return Decoded(packet: packet, attachments: attachments)
    }

    /// The payload as one validated JSON value.
    private static func validated(_ payload: UnsafeRawBufferPointer, _ kind: String) throws(SocketIOError) -> RawJSON {
        do {
            return try RawJSON(validating: payload)
        } catch {
            throw .invalidPacket("\(kind) payload: \(error)")
        }
    }

    /// The payload as a JSON object.
    private static func object(_ payload: UnsafeRawBufferPointer, _ kind: String) throws(SocketIOError) -> RawJSON {
        guard payload.first == UInt8(ascii: "{") else { throw .invalidPacket("\(kind) payload is not an object") }
        return try validated(payload, kind)
    }

    /// Reads an `EVENT` (`named`: the first element is the name) or `ACK` array in one scan.
    private static func readArguments(_ payload: UnsafeRawBufferPointer, named: Bool) throws(SocketIOError) -> (name: String?, arguments: EventArguments) {
        var scanner = JSONScanner(payload)
        do {
            guard scanner.peek() == UInt8(ascii: "[") else {
                throw SocketIOError.invalidPacket(named ? "EVENT payload is not an array" : "ACK payload is not an array")
            }
            scanner.index += 1
            scanner.skipWhitespace()
            var name: String?
            if named {
                guard scanner.peek() == UInt8(ascii: "\"") else {
                    // Valid JSON without a string first is a bad event; anything else is not JSON.
                    scanner.index = 0
                    try scanner.skipValue(depth: 0)
                    try scanner.expectEnd()
                    throw SocketIOError.invalidPacket("EVENT without an event name")
                }
                name = scanner.decodeString(try scanner.scanString())
                scanner.skipWhitespace()
                if scanner.peek() == UInt8(ascii: ",") {
                    scanner.index += 1
                } else {
                    try scanner.expect(UInt8(ascii: "]"))
                    try scanner.expectEnd()
                    return (name, EventArguments())
                }
            } else if scanner.peek() == UInt8(ascii: "]") {
                scanner.index += 1
                try scanner.expectEnd()
                return (nil, EventArguments())
            }
            let argumentsStart = scanner.index
            var count = 0
            var first = 0..<0
            while true {
                scanner.skipWhitespace()
                let start = scanner.index
                try scanner.skipValue(depth: 1)
                if count == 0 { first = start..<scanner.index }
                count += 1
                scanner.skipWhitespace()
                if scanner.peek() == UInt8(ascii: ",") {
                    scanner.index += 1
                    continue
                }
                let end = scanner.index
                try scanner.expect(UInt8(ascii: "]"))
                try scanner.expectEnd()
                if count == 1 {
                    return (name, EventArguments(storage: .one(RawJSON(unchecked: Array(payload[first])))))
                }
                var array = [UInt8](repeating: UInt8(ascii: "["), count: 1)
                array.reserveCapacity(end - argumentsStart + 2)
                array.append(contentsOf: payload[argumentsStart..<end])
                array.append(UInt8(ascii: "]"))
                return (name, EventArguments(storage: .several(RawJSON(unchecked: array), count: count)))
            }
        } catch let error as SocketIOError {
            throw error
        } catch {
            throw .invalidPacket("\(named ? "EVENT" : "ACK") payload: \(error)")
        }
    }

    // MARK: - Encoding

    /// Encodes a packet as the text of an Engine.IO message. A packet whose arguments have
    /// attachments is written as `BINARY_EVENT`/`BINARY_ACK` with their count; send
    /// ``EventArguments/attachments`` after it, each as a binary message.
    /// - Parameter packet: the packet.
    /// - Returns: the UTF-8 text.
    public static func encode(_ packet: SocketIOPacket) -> [UInt8] {
        var out: [UInt8] = []
        append(packet, to: &out)
        return out
    }

    /// Encodes a packet as a whole Engine.IO message (`4` and the packet): the text of one
    /// WebSocket frame, written in one buffer.
    ///
    /// ```swift
    /// SocketIOCodec.encodeMessage(.event(namespace: "/", name: "news", arguments: EventArguments(data: nil), id: nil))
    /// // 42["news"]
    /// ```
    /// - Parameters:
    ///   - packet: the packet.
    ///   - offset: for an `EVENT`, its connection state recovery offset, written as one more
    ///     (string) argument after the others, as Socket.IO 4.6 does; nil writes none.
    /// - Returns: the UTF-8 text.
    public static func encodeMessage(_ packet: SocketIOPacket, offset: String? = nil) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "4")]
        append(packet, offset: offset, to: &out)
        return out
    }

    /// Appends the text of a packet to `out` (see ``encodeMessage(_:offset:)`` for `offset`).
    public static func append(_ packet: SocketIOPacket, offset: String? = nil, to out: inout [UInt8]) {
        switch packet {
        case .connect(let namespace, let payload):
            out.append(UInt8(ascii: "0"))
            appendNamespace(namespace, to: &out)
            if let payload { out.append(contentsOf: payload.bytes) }
        case .disconnect(let namespace):
            out.append(UInt8(ascii: "1"))
            appendNamespace(namespace, to: &out)
        case .event(let namespace, let name, let arguments, let id):
            out.reserveCapacity(out.count + name.utf8.count + arguments.byteCount + namespace.utf8.count + 32)
            appendHeader(binary: UInt8(ascii: "5"), plain: UInt8(ascii: "2"), arguments, namespace, id, to: &out)
            out.append(UInt8(ascii: "["))
            EnvelopeCodec.appendJSONString(name, to: &out)
            appendArguments(arguments, leadingComma: true, to: &out)
            if let offset {
                out.append(UInt8(ascii: ","))
                EnvelopeCodec.appendJSONString(offset, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .ack(let namespace, let id, let arguments):
            appendHeader(binary: UInt8(ascii: "6"), plain: UInt8(ascii: "3"), arguments, namespace, id, to: &out)
            out.append(UInt8(ascii: "["))
            appendArguments(arguments, leadingComma: false, to: &out)
            out.append(UInt8(ascii: "]"))
        case .connectError(let namespace, let payload):
            out.append(UInt8(ascii: "4"))
            appendNamespace(namespace, to: &out)
            out.append(contentsOf: payload.bytes)
        }
    }

    /// An `EVENT` for Parley's `data` in `namespace`: the text of `2[/nsp,]["name",data]`.
    /// What a broadcast writes, once, for every Socket.IO target.
    public static func encodeEvent(namespace: String, name: String, data: RawJSON?) -> [UInt8] {
        encode(.event(namespace: namespace, name: name, arguments: EventArguments(data: data), id: nil))
    }

    private static func appendHeader(binary: UInt8, plain: UInt8, _ arguments: EventArguments, _ namespace: String,
                                     _ id: UInt64?, to out: inout [UInt8]) {
        if arguments.attachments.isEmpty {
            out.append(plain)
        } else {
            out.append(binary)
            appendDecimal(UInt64(arguments.attachments.count), to: &out)
            out.append(UInt8(ascii: "-"))
        }
        appendNamespace(namespace, to: &out)
        if let id { appendDecimal(id, to: &out) }
    }

    private static func appendNamespace(_ namespace: String, to out: inout [UInt8]) {
        guard namespace != "/" else { return }
        out.append(contentsOf: namespace.utf8)
        out.append(UInt8(ascii: ","))
    }

    private static func appendArguments(_ arguments: EventArguments, leadingComma: Bool, to out: inout [UInt8]) {
        switch arguments.storage {
        case .none: return
        case .one(let value):
            if leadingComma { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: value.bytes)
        case .several(let array, _):
            if leadingComma { out.append(UInt8(ascii: ",")) }
            array.bytes.withUnsafeBufferPointer { out.append(contentsOf: $0.dropFirst().dropLast()) }
        }
    }

    static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }
}
