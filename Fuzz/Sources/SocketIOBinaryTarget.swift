import ParleyProtocol

/// `SocketIOBinaryAssembler`. The input is a Socket.IO packet, then (after a `0x00` byte) the
/// bytes of its attachments, cut into as many chunks as the packet announces at points derived
/// from the input. Fed the packet and the chunks, the assembler:
/// - refuses a packet exactly as `SocketIOCodec.decode` does, and one announcing more than
///   `maxAttachments`;
/// - waits after a binary packet until its last attachment, then gives the packet (or refuses a
///   placeholder naming no attachment), and refuses any attachment more;
/// - refuses the attachment that takes the total over `maxBytes`, and only that one;
/// - gives the same result fresh or reused, and whether the packet and attachments arrive as
///   WebSocket messages or in a long-polling payload.
///
/// A completed packet holds plain JSON (no attachments): it round-trips like any other, and
/// is the packet received (whitespace aside) when its JSON names no placeholder.
struct SocketIOBinaryTarget: FuzzTarget {
    /// What feeding a packet and its attachments gave.
    enum Outcome: Equatable {
        case packet(SocketIOPacket)
        case refused(SocketIOError)
    }

    func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        let cut = bytes.firstIndex(of: 0) ?? bytes.count
        let text = Array(bytes[..<cut])
        let rest = cut < bytes.count ? Array(bytes[(cut + 1)...]) : []

        let decoded: SocketIOCodec.Decoded
        do {
            decoded = try SocketIOCodec.decode(text)
        } catch {
            var assembler = SocketIOBinaryAssembler(maxBytes: rest.count)
            do {
                _ = try assembler.receive(text: text)
                require(false, "the assembler accepts a packet the codec refuses (\(error))")
            } catch let refusal {
                require(refusal == error, "the assembler refuses with \(refusal), the codec with \(error)")
            }
            return
        }
        var generator = SplitMix64(seed: Splits.fnv1a(bytes))
        let attachments = Self.chunks(rest, count: decoded.attachments, &generator)

        // Tight bound: exactly the attachments' bytes.
        var assembler = SocketIOBinaryAssembler(maxBytes: rest.count)
        let outcome = Self.feed(&assembler, text, decoded, attachments)
        if case .refused(.attachmentsTooLarge) = outcome { require(false, "attachments refused within maxBytes") }
        if case .packet(let packet) = outcome {
            SocketIOTarget.check(packet)
            SocketIOTarget.checkRoundTrip(packet)
            if !text.contains(UInt8(ascii: "\\")) && !text.containsSubsequence(Array("placeholder".utf8)) {
                require(Self.sameModuloWhitespace(packet, decoded.packet), "a packet without placeholders changed: \(packet) vs \(decoded.packet)")
            }
        }
        // Reused: after that packet, and after a plain one.
        require(Self.feed(&assembler, text, decoded, attachments) == outcome, "a reused assembler gives another result")
        require((try? assembler.receive(text: Array(#"2["x"]"#.utf8))) != nil, "a plain packet after a binary one")
        require(Self.feed(&assembler, text, decoded, attachments) == outcome, "a reused assembler gives another result")

        // One byte short: the attachment crossing the bound is refused.
        if decoded.attachments > 0, !rest.isEmpty {
            let limit = Int(generator.next() % UInt64(rest.count))
            var short = SocketIOBinaryAssembler(maxBytes: limit)
            require(Self.feed(&short, text, decoded, attachments) == .refused(.attachmentsTooLarge(limit: limit)),
                    "\(rest.count) attachment bytes accepted with maxBytes \(limit)")
        }
        // One attachment fewer allowed: the packet is refused.
        if decoded.attachments > 0 {
            var few = SocketIOBinaryAssembler(maxAttachments: decoded.attachments - 1, maxBytes: rest.count)
            do {
                _ = try few.receive(text: text)
                require(false, "\(decoded.attachments) attachments accepted with maxAttachments \(decoded.attachments - 1)")
            } catch {
                require(error == .tooManyAttachments(limit: decoded.attachments - 1), "too many attachments gave \(error)")
            }
        }
        // Through a long-polling payload: the same packets, the same result.
        if String(validating: text, as: UTF8.self) != nil, !text.contains(EngineIOCodec.separator) {
            let sent: [EngineIOPacket] = [.message(text)] + attachments.map { .binary($0) }
            guard let received = try? EngineIOCodec.decodePayload(EngineIOCodec.encodePayload(sent)) else {
                return require(false, "a packet and its attachments do not cross a polling payload")
            }
            require(received == sent, "a polling payload changed the packet or its attachments")
            var polled = SocketIOBinaryAssembler(maxBytes: rest.count)
            var result: Outcome?
            do {
                for packet in received {
                    switch packet {
                    case .message(let text): if let done = try polled.receive(text: text) { result = .packet(done) }
                    case .binary(let bytes): if let done = try polled.receive(binary: bytes) { result = .packet(done) }
                    default: require(false, "unexpected \(packet)")
                    }
                }
            } catch {
                result = .refused(error)
            }
            require(result == outcome, "by polling \(String(describing: result)), by WebSocket \(outcome)")
        }
    }

    /// The same packet but for whitespace in the arguments (resolving rewrites the JSON).
    static func sameModuloWhitespace(_ one: SocketIOPacket, _ other: SocketIOPacket) -> Bool {
        switch (one, other) {
        case let (.event(namespace, name, arguments, id), .event(namespace2, name2, arguments2, id2)):
            return namespace == namespace2 && name == name2 && id == id2 && arguments.count == arguments2.count
                && JSONCheck.minified(arguments.array.bytes) == JSONCheck.minified(arguments2.array.bytes)
        case let (.ack(namespace, id, arguments), .ack(namespace2, id2, arguments2)):
            return namespace == namespace2 && id == id2 && arguments.count == arguments2.count
                && JSONCheck.minified(arguments.array.bytes) == JSONCheck.minified(arguments2.array.bytes)
        default:
            return one == other
        }
    }

    /// `bytes` cut into `count` consecutive chunks (some possibly empty); none when `count` is 0.
    static func chunks(_ bytes: [UInt8], count: Int, _ generator: inout SplitMix64) -> [[UInt8]] {
        guard count > 0 else { return [] }
        let cuts = (0..<(count - 1)).map { _ in Int(generator.next() % UInt64(bytes.count + 1)) }.sorted()
        var result: [[UInt8]] = []
        var start = 0
        for cut in cuts + [bytes.count] {
            result.append(Array(bytes[start..<cut]))
            start = cut
        }
        return result
    }

    /// Feeds `text` and `attachments` one by one, checking the assembler's state at each step.
    static func feed(_ assembler: inout SocketIOBinaryAssembler, _ text: [UInt8], _ decoded: SocketIOCodec.Decoded,
                     _ attachments: [[UInt8]]) -> Outcome {
        require(!assembler.isWaiting, "the assembler waits before a packet")
        let first: SocketIOPacket?
        do {
            first = try assembler.receive(text: text)
        } catch {
            require(false, "the assembler refuses a packet the codec accepts: \(error)")
            return .refused(error)
        }
        var outcome: Outcome
        if let first {
            require(decoded.attachments == 0 && first == decoded.packet, "a binary packet given before its attachments")
            outcome = .packet(first)
        } else {
            require(decoded.attachments > 0 && assembler.isWaiting, "a plain packet held back")
            outcome = .refused(.unexpectedAttachment)
            var total = 0
            for (index, attachment) in attachments.enumerated() {
                total += attachment.count
                let isLast = index == attachments.count - 1
                do {
                    let done = try assembler.receive(binary: attachment)
                    require(total <= assembler.maxBytes, "\(total) attachment bytes accepted, maxBytes \(assembler.maxBytes)")
                    require(isLast == (done != nil) && assembler.isWaiting == !isLast,
                            "attachment \(index + 1) of \(attachments.count): \(done == nil ? "no packet" : "a packet")")
                    if let done { outcome = .packet(done) }
                } catch {
                    if total > assembler.maxBytes {
                        require(error == .attachmentsTooLarge(limit: assembler.maxBytes), "over maxBytes: \(error)")
                        // The owner closes the connection: this assembler is not used again.
                        assembler = SocketIOBinaryAssembler(maxAttachments: assembler.maxAttachments, maxBytes: assembler.maxBytes)
                    } else {
                        require(isLast && !assembler.isWaiting, "attachment \(index + 1) of \(attachments.count) refused: \(error)")
                        if case .invalidPacket = error {} else { require(false, "the last attachment refused with \(error)") }
                    }
                    return .refused(error)
                }
            }
        }
        // Nothing waits now: one attachment more is refused.
        do {
            _ = try assembler.receive(binary: [1])
            require(false, "an attachment accepted with no packet waiting")
        } catch {
            require(error == .unexpectedAttachment, "an attachment with no packet waiting gave \(error)")
        }
        return outcome
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in the array.
    func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        return (0...(count - needle.count)).contains { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
