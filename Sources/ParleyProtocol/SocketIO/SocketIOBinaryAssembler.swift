import Foundation

/// Joins a `BINARY_EVENT`/`BINARY_ACK` and the binary messages that follow it into one packet
/// whose placeholders (`{"_placeholder":true,"num":N}`) are replaced by attachment `N`,
/// written as a base64 JSON string (so a handler decoding `Data` gets the bytes).
///
/// Bounded: at most `maxAttachments` per packet and `maxBytes` of attachments in total; a
/// binary message with no packet waiting, or a packet while one still waits, is an error.
///
/// ```swift
/// var assembler = SocketIOBinaryAssembler(maxAttachments: 10, maxBytes: 1_000_000)
/// if let packet = try assembler.receive(text: message) { handle(packet) }
/// if let packet = try assembler.receive(binary: bytes) { handle(packet) }
/// ```
public struct SocketIOBinaryAssembler: Sendable {
    /// The most attachments one packet may announce.
    public let maxAttachments: Int
    /// The most attachment bytes one packet may carry.
    public let maxBytes: Int
    /// A binary packet waiting for its attachments.
    private struct Pending: Sendable {
        var packet: SocketIOPacket
        var expected: Int
        var received: [[UInt8]] = []
        var receivedBytes = 0
    }

    /// The packet waiting, if any (at most one element): an empty array takes 8 bytes and no
    /// allocation, so an assembler that never sees a binary packet (every idle connection has
    /// one) is three words.
    private var pending: [Pending] = []

    /// - Parameters:
    ///   - maxAttachments: the most attachments per packet (``SocketIOCodec/defaultMaxAttachments``).
    ///   - maxBytes: the most attachment bytes per packet; a server passes its message limit.
    public init(maxAttachments: Int = SocketIOCodec.defaultMaxAttachments, maxBytes: Int) {
        self.maxAttachments = maxAttachments
        self.maxBytes = maxBytes
    }

    /// Whether a binary packet is waiting for attachments.
    public var isWaiting: Bool { !pending.isEmpty }

    /// A text message: a complete packet, or nil when it is a binary packet whose attachments
    /// must come first.
    /// - Throws: the ``SocketIOCodec/decode(_:maxAttachments:)-([UInt8],_)`` errors;
    ///   ``SocketIOError/unexpectedAttachment`` when a binary packet still waits.
    public mutating func receive(text: [UInt8]) throws(SocketIOError) -> SocketIOPacket? {
        try text.withUnsafeBytes { raw in
            Result { () throws(SocketIOError) -> SocketIOPacket? in try receive(text: raw) }
        }.get()
    }

    /// A text message held in a buffer (read during the call only); see ``receive(text:)-([UInt8])``.
    public mutating func receive(text: UnsafeRawBufferPointer) throws(SocketIOError) -> SocketIOPacket? {
        guard pending.isEmpty else { throw .unexpectedAttachment }
        let decoded = try SocketIOCodec.decode(text, maxAttachments: maxAttachments)
        guard decoded.attachments > 0 else { return decoded.packet }
        pending = [Pending(packet: decoded.packet, expected: decoded.attachments)]
        return nil
    }

    /// A binary message: the completed packet after its last attachment, else nil.
    /// - Throws: ``SocketIOError/unexpectedAttachment`` without a waiting packet;
    ///   ``SocketIOError/attachmentsTooLarge(limit:)``; ``SocketIOError/invalidPacket(_:)``
    ///   for a placeholder naming no attachment.
    public mutating func receive(binary: [UInt8]) throws(SocketIOError) -> SocketIOPacket? {
        guard !pending.isEmpty else { throw .unexpectedAttachment }
        pending[0].receivedBytes += binary.count
        guard pending[0].receivedBytes <= maxBytes else { throw .attachmentsTooLarge(limit: maxBytes) }
        pending[0].received.append(binary)
        guard pending[0].received.count == pending[0].expected else { return nil }
        let complete = pending.removeLast()
        let attachments = complete.received
        switch complete.packet {
        case .event(let namespace, let name, let arguments, let id):
            return .event(namespace: namespace, name: name, arguments: try Self.resolve(arguments, attachments), id: id)
        case .ack(let namespace, let id, let arguments):
            return .ack(namespace: namespace, id: id, arguments: try Self.resolve(arguments, attachments))
        default:
            return complete.packet
        }
    }

    private static func resolve(_ arguments: EventArguments, _ attachments: [[UInt8]]) throws(SocketIOError) -> EventArguments {
        var resolved = arguments
        resolved.attachments = attachments
        return try resolved.resolvingAttachments()
    }
}

extension EventArguments {
    /// These arguments as plain JSON: each placeholder replaced by its attachment as a base64
    /// string, attachments dropped. What an envelope client receives; what handlers see.
    /// - Throws: ``SocketIOError/invalidPacket(_:)`` for a placeholder whose `num` names no attachment.
    public func resolvingAttachments() throws(SocketIOError) -> EventArguments {
        guard !attachments.isEmpty else { return self }
        switch storage {
        case .none: return EventArguments()
        case .one(let value):
            return EventArguments(storage: .one(try PlaceholderResolver.resolve(value, attachments)))
        case .several(let array, let count):
            return EventArguments(storage: .several(try PlaceholderResolver.resolve(array, attachments), count: count))
        }
    }
}

/// Rewrites valid JSON, replacing placeholder objects by base64 strings.
private struct PlaceholderResolver {
    static func resolve(_ json: RawJSON, _ attachments: [[UInt8]]) throws(SocketIOError) -> RawJSON {
        let result = json.bytes.withUnsafeBytes { raw in
            Result { () throws(SocketIOError) -> [UInt8] in
                var scanner = JSONScanner(raw)
                var out: [UInt8] = []
                out.reserveCapacity(raw.count + attachments.reduce(0) { $0 + $1.count * 4 / 3 + 4 })
                do {
                    try copyValue(&scanner, attachments, to: &out)
                } catch let error as SocketIOError {
                    throw error
                } catch {
                    throw .invalidPacket("\(error)")
                }
                return out
            }
        }
        return RawJSON(unchecked: try result.get())
    }

    /// Copies one value at `scanner.index` (already validated JSON), resolving placeholders.
    /// Recursion is bounded by ``EnvelopeCodec/maxDepth``, which the JSON passed already.
    private static func copyValue(_ scanner: inout JSONScanner, _ attachments: [[UInt8]], to out: inout [UInt8]) throws {
        scanner.skipWhitespace()
        let start = scanner.index
        switch scanner.peek() {
        case UInt8(ascii: "{"):
            if let number = try placeholderNumber(scanner) {
                guard number < attachments.count else { throw SocketIOError.invalidPacket("placeholder names no attachment") }
                try scanner.skipValue(depth: 0)
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: Data(attachments[number]).base64EncodedData())
                out.append(UInt8(ascii: "\""))
                return
            }
            scanner.index += 1
            out.append(UInt8(ascii: "{"))
            scanner.skipWhitespace()
            if scanner.peek() == UInt8(ascii: "}") { scanner.index += 1; out.append(UInt8(ascii: "}")); return }
            while true {
                scanner.skipWhitespace()
                let keyStart = scanner.index
                _ = try scanner.scanString()
                out.append(contentsOf: scanner.bytes[keyStart..<scanner.index])
                scanner.skipWhitespace()
                try scanner.expect(UInt8(ascii: ":"))
                out.append(UInt8(ascii: ":"))
                try copyValue(&scanner, attachments, to: &out)
                scanner.skipWhitespace()
                let byte = scanner.peek()
                scanner.index += 1
                out.append(byte)
                if byte == UInt8(ascii: "}") { return }
            }
        case UInt8(ascii: "["):
            scanner.index += 1
            out.append(UInt8(ascii: "["))
            scanner.skipWhitespace()
            if scanner.peek() == UInt8(ascii: "]") { scanner.index += 1; out.append(UInt8(ascii: "]")); return }
            while true {
                try copyValue(&scanner, attachments, to: &out)
                scanner.skipWhitespace()
                let byte = scanner.peek()
                scanner.index += 1
                out.append(byte)
                if byte == UInt8(ascii: "]") { return }
            }
        default:
            try scanner.skipValue(depth: 0)
            out.append(contentsOf: scanner.bytes[start..<scanner.index])
        }
    }

    /// When the object at `scanner.index` has `"_placeholder":true`, its `num` (a plain
    /// integer, else an error); nil for any other object. The scanner passed is not moved.
    private static func placeholderNumber(_ start: JSONScanner) throws -> Int? {
        var scanner = start
        scanner.index += 1
        var isPlaceholder = false
        var number: Int?
        scanner.skipWhitespace()
        if scanner.peek() == UInt8(ascii: "}") { return nil }
        while true {
            scanner.skipWhitespace()
            let key = scanner.decodeString(try scanner.scanString())
            scanner.skipWhitespace()
            try scanner.expect(UInt8(ascii: ":"))
            scanner.skipWhitespace()
            let valueStart = scanner.index
            let isPlainInteger: Bool
            if scanner.peek() &- UInt8(ascii: "0") < 10 {
                isPlainInteger = try scanner.scanNumber()
            } else {
                try scanner.skipValue(depth: 1)
                isPlainInteger = false
            }
            let value = scanner.bytes[valueStart..<scanner.index]
            if key == "_placeholder" { isPlaceholder = value.elementsEqual("true".utf8) }
            if key == "num", isPlainInteger, value.count <= 6 {
                number = value.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            }
            scanner.skipWhitespace()
            if scanner.peek() == UInt8(ascii: ",") { scanner.index += 1; continue }
            break
        }
        guard isPlaceholder else { return nil }
        guard let number else { throw SocketIOError.invalidPacket("placeholder without a valid num") }
        return number
    }
}
