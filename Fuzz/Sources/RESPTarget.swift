import ParleyRedis

/// The RESP2 parser: however the bytes are cut (and `next()` called after each piece), the
/// values and the error are the same, and none is bigger than the bounds.
struct RESPTarget: FuzzTarget {
    func run(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        var reference: [String]?
        for chunks in Splits.of(bytes) {
            let transcript = Self.transcript(chunks)
            if let reference {
                require(transcript == reference, "replies cut differently differ:\n\(transcript)\nvs\n\(reference)")
            } else {
                reference = transcript
            }
        }
    }

    static func transcript(_ chunks: [ArraySlice<UInt8>]) -> [String] {
        var parser = RESPParser(maxValueBytes: 1024, maxDepth: 8)
        var lines: [String] = []
        do {
            for chunk in chunks {
                parser.feed(Array(chunk))
                while let value = try parser.next() {
                    require(depth(value) <= 8 + 1, "a value nested deeper than the bound")
                    lines.append(String(describing: value))
                }
            }
        } catch {
            lines.append("error \(error)")
        }
        return lines
    }

    static func depth(_ value: RESPValue) -> Int {
        if case .array(let elements?) = value { return 1 + (elements.map(depth).max() ?? 0) }
        return 1
    }
}
