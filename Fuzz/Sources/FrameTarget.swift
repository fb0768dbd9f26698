import ParleyWebSocket

/// The frame parser, the message assembler and the UTF-8 validator (RFC 6455 5–8). The first
/// byte picks the settings (masked or not, size limits); the rest is the byte stream. However
/// the stream is cut, the events and the error are the same; the validator agrees with the
/// standard library's UTF-8 decoding, whole or in pieces.
struct FrameTarget: FuzzTarget {
    func run(_ input: UnsafeRawBufferPointer) {
        guard let settings = input.first else { return }
        let stream = Array(input.dropFirst())
        let expectMasked = settings & 1 == 0
        let limits = [125, 1024, 1 << 16]
        let maxFrame = limits[Int(settings >> 1) % 3]
        let maxMessage = limits[Int(settings >> 3) % 3]
        var reference: [String]?
        for chunks in Splits.of(stream) {
            let transcript = Self.transcript(chunks, expectMasked: expectMasked, maxFrame: maxFrame, maxMessage: maxMessage)
            if let reference {
                require(transcript == reference, "frames cut differently differ:\n\(transcript)\nvs\n\(reference)")
            } else {
                reference = transcript
            }
        }
        checkValidator(stream)
    }

    /// What parsing and assembling `chunks` produce, as comparable lines.
    static func transcript(_ chunks: [ArraySlice<UInt8>], expectMasked: Bool, maxFrame: Int, maxMessage: Int) -> [String] {
        var parser = FrameParser(expectMasked: expectMasked, maxFrameSize: maxFrame)
        var assembler = MessageAssembler(maxMessageSize: maxMessage)
        var lines: [String] = []
        do {
            for chunk in chunks {
                var bytes = Array(chunk)  // the parser unmasks in place
                try bytes.withUnsafeMutableBytes { buffer in
                    try parser.parse(buffer) { frame in
                        guard let event = try assembler.receive(frame) else { return }
                        lines.append(describe(event))
                    }
                }
                require(parser.bufferedByteCount <= maxFrame + 14, "carry \(parser.bufferedByteCount) over a frame's bound")
                require(assembler.bufferedByteCount <= maxMessage, "fragments \(assembler.bufferedByteCount) over the message bound")
            }
            lines.append("carry \(parser.bufferedByteCount), fragments \(assembler.bufferedByteCount)")
        } catch {
            lines.append("error \(error)")
        }
        return lines
    }

    static func describe(_ event: MessageAssembler.Event) -> String {
        switch event {
        case .message(.text(let text)):
            require(UTF8Validator.isValid(Array(text.utf8)), "a text message that is not valid UTF-8")
            return "text \(Array(text.utf8))"
        case .message(.binary(let bytes)): return "binary \(bytes)"
        case .ping(let payload): return "ping \(payload)"
        case .pong(let payload): return "pong \(payload)"
        case .close(let code, let reason): return "close \(code.map { String($0.rawValue) } ?? "none") \(reason)"
        }
    }

    /// The validator, whole and in pieces, against `String(validating:as:)`.
    private func checkValidator(_ bytes: [UInt8]) {
        let expected = String(validating: bytes, as: UTF8.self) != nil
        require(UTF8Validator.isValid(bytes) == expected, "UTF8Validator.isValid says \(!expected) for \(bytes.prefix(64))")
        for chunks in Splits.of(bytes) {
            var validator = UTF8Validator()
            var valid = true
            for chunk in chunks where valid {
                valid = Array(chunk).withUnsafeBytes { validator.consume($0) }
            }
            valid = valid && validator.isComplete
            require(valid == expected, "UTF8Validator in \(chunks.count) pieces says \(valid), the standard library \(expected)")
        }
    }
}

extension UTF8Validator {
    static func isValid(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { isValid($0) }
    }
}
