import ParleyProtocol

/// The Socket.IO v5 codec. A decoded packet encodes to text that decodes to the same packet
/// (with no attachments: they are sent apart) and encodes to the same bytes; its namespace
/// starts with `/` and holds no `,`; its id is at most 2^53-1; a `CONNECT` or `CONNECT_ERROR`
/// payload is a JSON object; event and ack arguments are valid JSON and agree with each other
/// (count, elements, `data`, `array`).
struct SocketIOTarget: FuzzTarget {
    func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        guard let decoded = try? SocketIOCodec.decode(bytes) else { return }
        Self.check(decoded.packet)
        let isBinary = bytes.first == UInt8(ascii: "5") || bytes.first == UInt8(ascii: "6")
        require((0...SocketIOCodec.defaultMaxAttachments).contains(decoded.attachments) && (isBinary || decoded.attachments == 0),
                "\(decoded.attachments) attachments announced by \(JSONCheck.text(bytes))")
        Self.checkRoundTrip(decoded.packet)
    }

    /// `packet` (with no attachments) encodes to text that decodes to it and encodes the same.
    static func checkRoundTrip(_ packet: SocketIOPacket) {
        let encoded = SocketIOCodec.encode(packet)
        let again: SocketIOCodec.Decoded
        do {
            again = try SocketIOCodec.decode(encoded)
        } catch {
            return require(false, "the encoding of \(packet) does not decode: \(error) (\(JSONCheck.text(encoded)))")
        }
        require(again.packet == packet, "decode(encode(p)) != p: \(again.packet) vs \(packet)")
        require(again.attachments == 0, "a packet without attachments encodes as binary: \(JSONCheck.text(encoded))")
        require(SocketIOCodec.encode(again.packet) == encoded, "encoding is not stable for \(packet)")
    }

    /// The invariants of a packet as decoded.
    static func check(_ packet: SocketIOPacket) {
        let namespace = packet.namespace
        // Bytes, not characters: "/" and a combining mark are one `Character`.
        require(namespace.utf8.first == UInt8(ascii: "/") && !namespace.utf8.contains(UInt8(ascii: ",")), "bad namespace \(namespace)")
        switch packet {
        case .connect(_, let payload?), .connectError(_, let payload):
            require(payload.bytes.first == UInt8(ascii: "{") && JSONCheck.isJSON(payload.bytes, fragments: false),
                    "payload is not a JSON object: \(JSONCheck.text(payload.bytes))")
        case .connect, .disconnect: break
        case .event(_, _, let arguments, let id):
            require(id.map { $0 <= (1 << 53) - 1 } ?? true, "id out of range: \(id ?? 0)")
            checkArguments(arguments)
        case .ack(_, let id, let arguments):
            require(id <= (1 << 53) - 1, "id out of range: \(id)")
            checkArguments(arguments)
        }
    }

    /// Arguments are valid JSON and their views agree: `array` is a JSON array of `count`
    /// elements, element `i` exists exactly for `0..<count` and is valid JSON, `data` is nil for
    /// none, the argument for one, the array for several.
    static func checkArguments(_ arguments: EventArguments) {
        require(arguments.attachments.isEmpty, "decoded arguments hold attachments")
        let array = arguments.array.bytes
        guard let parsed = JSONCheck.parse(array, fragments: false) as? [Any] else {
            return require(false, "arguments are not a JSON array: \(JSONCheck.text(array))")
        }
        require(parsed.count == arguments.count, "\(arguments.count) arguments, \(parsed.count) in \(JSONCheck.text(array))")
        for index in 0..<arguments.count {
            guard let element = arguments[index] else { return require(false, "argument \(index) of \(arguments.count) is missing") }
            require(JSONCheck.isJSON(element.bytes, fragments: true), "argument \(index) is not JSON: \(JSONCheck.text(element.bytes))")
        }
        require(arguments[arguments.count] == nil && arguments[-1] == nil, "an argument beyond the list")
        switch arguments.count {
        case 0: require(arguments.data == nil, "data for no arguments")
        case 1: require(arguments.data == arguments[0] && EventArguments(data: arguments.data) == arguments, "data of one argument")
        default: require(arguments.data == arguments.array, "data of several arguments is not their array")
        }
    }
}
