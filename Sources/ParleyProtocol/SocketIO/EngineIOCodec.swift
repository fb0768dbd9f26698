import Foundation

/// Reads and writes Engine.IO v4 packets (WebSocket frames) and long-polling payloads.
///
/// Pure, no I/O. A WebSocket text frame is one packet (``decode(text:)``), a binary frame is a
/// binary message (``EngineIOPacket/binary(_:)``, no type byte in v4). A polling body is a
/// payload (``decodePayload(_:maxPackets:)``): packets separated by `0x1E`, binary messages as
/// `b` followed by base64 (RFC 4648 section 4).
///
/// ```swift
/// let packets = try EngineIOCodec.decodePayload(Array("4hello\u{1E}2probe".utf8))
/// // [.message("hello"), .ping("probe")]
/// let body = EngineIOCodec.encodePayload([.message(Array("hi".utf8)), .binary([1, 2])])
/// // 4hi\u{1E}bAQI=
/// ```
public enum EngineIOCodec {
    /// The protocol revision served: `EIO=4` in the query.
    public static let protocolVersion = "4"

    /// The record separator between the packets of a polling payload.
    public static let separator: UInt8 = 0x1E

    /// Decodes the payload of one WebSocket text frame, or one packet of a polling payload.
    /// - Parameter text: UTF-8 bytes: a type digit `0`...`6` and the packet's data.
    /// - Returns: the packet; data after `1`, `5` and `6` is ignored, as the reference server does.
    /// - Throws: ``SocketIOError/invalidEngineIOPacket(_:)`` for an empty packet, an unknown
    ///   type, or an `open` whose data is not a JSON object.
    public static func decode(text: some Collection<UInt8>) throws(SocketIOError) -> EngineIOPacket {
        guard let type = text.first else { throw .invalidEngineIOPacket("empty packet") }
        let data = text.dropFirst()
        switch type {
        case UInt8(ascii: "0"):
            guard data.first == UInt8(ascii: "{"), let json = try? RawJSON(validating: data) else {
                throw .invalidEngineIOPacket("open data is not a JSON object")
            }
            return .open(json)
        case UInt8(ascii: "1"): return .close
        case UInt8(ascii: "2"): return .ping(Array(data))
        case UInt8(ascii: "3"): return .pong(Array(data))
        case UInt8(ascii: "4"): return .message(Array(data))
        case UInt8(ascii: "5"): return .upgrade
        case UInt8(ascii: "6"): return .noop
        default: throw .invalidEngineIOPacket("unknown packet type \(JSONScanner.describe(type))")
        }
    }

    /// Encodes a packet as WebSocket text-frame payload or as one packet of a polling payload;
    /// a binary message becomes `b` and base64 (send it as a binary frame on a WebSocket instead).
    /// - Parameter packet: the packet.
    /// - Returns: its bytes.
    public static func encode(_ packet: EngineIOPacket) -> [UInt8] {
        var out: [UInt8] = []
        append(packet, to: &out)
        return out
    }

    /// Appends the text form of `packet` (see ``encode(_:)``) to `out`.
    public static func append(_ packet: EngineIOPacket, to out: inout [UInt8]) {
        switch packet {
        case .binary(let bytes):
            out.append(UInt8(ascii: "b"))
            out.append(contentsOf: Data(bytes).base64EncodedData())
            return
        default:
            out.append(packet.typeDigit)
        }
        switch packet {
        case .open(let json): out.append(contentsOf: json.bytes)
        case .ping(let data), .pong(let data), .message(let data): out.append(contentsOf: data)
        case .close, .upgrade, .noop, .binary: break
        }
    }

    /// Decodes the body of a long-polling `POST` (or a `GET` answer, on the client side).
    /// - Parameters:
    ///   - body: the HTTP body, UTF-8 text.
    ///   - maxPackets: the most packets accepted in one body. 256: a client flushes what it
    ///     buffered since the last request, rarely more than a few.
    /// - Returns: the packets in order.
    /// - Throws: ``SocketIOError/invalidEngineIOPacket(_:)`` for an empty body, text that is
    ///   not UTF-8, an empty packet, bad base64 after `b`, or any packet ``decode(text:)``
    ///   refuses; ``SocketIOError/tooManyPackets(limit:)``.
    public static func decodePayload(_ body: [UInt8], maxPackets: Int = 256) throws(SocketIOError) -> [EngineIOPacket] {
        guard !body.isEmpty else { throw .invalidEngineIOPacket("empty payload") }
        guard String(validating: body, as: UTF8.self) != nil else {
            throw .invalidEngineIOPacket("payload is not UTF-8")
        }
        var packets: [EngineIOPacket] = []
        var start = 0
        while start <= body.count {
            let end = body[start...].firstIndex(of: separator) ?? body.count
            guard packets.count < maxPackets else { throw .tooManyPackets(limit: maxPackets) }
            let segment = body[start..<end]
            if segment.first == UInt8(ascii: "b") {
                guard let bytes = Data(base64Encoded: Data(segment.dropFirst())) else {
                    throw .invalidEngineIOPacket("invalid base64 in binary packet")
                }
                packets.append(.binary([UInt8](bytes)))
            } else {
                packets.append(try decode(text: segment))
            }
            start = end + 1
        }
        return packets
    }

    /// Encodes packets as a long-polling body: each packet's text form, separated by `0x1E`.
    /// - Parameter packets: the packets, in order.
    /// - Returns: the body bytes.
    public static func encodePayload(_ packets: [EngineIOPacket]) -> [UInt8] {
        var out: [UInt8] = []
        for (index, packet) in packets.enumerated() {
            if index > 0 { out.append(separator) }
            append(packet, to: &out)
        }
        return out
    }
}
