import ParleyProtocol

/// The Engine.IO v4 codec: one packet (a WebSocket text frame) and a long-polling payload.
/// A decoded packet encodes to the input (less the data ignored after `1`, `5` and `6`, and
/// the whitespace after an `open`'s JSON), and that encoding decodes to the same packet; an
/// `open` holds a JSON object. A decoded payload holds 1 to `maxPackets` packets, encodes to a
/// payload that decodes to the same packets and encodes to the same bytes, and is refused with
/// one packet less allowed.
struct EngineIOTarget: FuzzTarget {
    func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        checkPacket(bytes)
        checkPayload(bytes)
    }

    private func checkPacket(_ bytes: [UInt8]) {
        guard let packet = try? EngineIOCodec.decode(text: bytes) else { return }
        if case .binary = packet { return require(false, "a text packet decoded as binary: \(packet)") }
        if case .open(let json) = packet {
            require(JSONCheck.isJSON(json.bytes, fragments: false) && json.bytes.first == UInt8(ascii: "{"),
                    "open data is not a JSON object: \(JSONCheck.text(json.bytes))")
        }
        let encoded = EngineIOCodec.encode(packet)
        // What encodes back: everything but the data ignored, and the whitespace after an open's JSON.
        var expected = bytes
        if [UInt8(ascii: "1"), UInt8(ascii: "5"), UInt8(ascii: "6")].contains(bytes[0]) { expected = [bytes[0]] }
        if case .open = packet {
            while let last = expected.last, [0x20, 0x09, 0x0A, 0x0D].contains(last) { expected.removeLast() }
        }
        require(encoded == expected, "encode(decode(t)) != t: \(JSONCheck.text(encoded)) vs \(JSONCheck.text(bytes))")
        guard let again = try? EngineIOCodec.decode(text: encoded) else {
            return require(false, "the encoding of \(packet) does not decode")
        }
        require(again == packet, "decode(encode(p)) != p: \(again) vs \(packet)")
        require(EngineIOCodec.encode(again) == encoded, "encoding is not stable for \(packet)")
    }

    private func checkPayload(_ bytes: [UInt8]) {
        let limit = 256
        guard let packets = try? EngineIOCodec.decodePayload(bytes, maxPackets: limit) else { return }
        require(!packets.isEmpty && packets.count <= limit, "\(packets.count) packets in a payload limited to \(limit)")
        let body = EngineIOCodec.encodePayload(packets)
        require(String(validating: body, as: UTF8.self) != nil, "an encoded payload is not UTF-8")
        let again: [EngineIOPacket]
        do {
            again = try EngineIOCodec.decodePayload(body, maxPackets: limit)
        } catch {
            return require(false, "the encoding of \(packets.count) packets does not decode: \(error)")
        }
        require(again == packets, "decodePayload(encodePayload(p)) != p")
        require(EngineIOCodec.encodePayload(again) == body, "payload encoding is not stable")
        do {
            _ = try EngineIOCodec.decodePayload(bytes, maxPackets: packets.count - 1)
            require(false, "\(packets.count) packets accepted with maxPackets \(packets.count - 1)")
        } catch {
            require(error == .tooManyPackets(limit: packets.count - 1), "one packet over the limit gave \(error)")
        }
        // Each text packet of the payload is a packet alone (a WebSocket frame) too.
        for packet in packets {
            if case .binary = packet { continue }
            require((try? EngineIOCodec.decode(text: EngineIOCodec.encode(packet))) == packet, "\(packet) does not decode alone")
        }
    }
}
