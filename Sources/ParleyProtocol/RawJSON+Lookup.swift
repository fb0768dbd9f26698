extension RawJSON {
    /// The string value of `key` when this value is a JSON object that has it, else nil (not
    /// an object, no such key, or a value that is not a string).
    ///
    /// Reads only up to that member: the members before it are skipped without being decoded,
    /// the ones after it are not read at all. A handler that needs one field of a large payload
    /// (a room name beside a megabyte of data) takes it without decoding the rest:
    ///
    /// ```swift
    /// socket.on("room") { (data: RawJSON) in
    ///     guard let room = data.string(forKey: "room") else { return }
    ///     try socket.to(room).emit("room", data)
    /// }
    /// ```
    /// - Parameter key: the member name, compared after unescaping (`"r\u006fom"` is `room`).
    public func string(forKey key: String) -> String? {
        bytes.withUnsafeBytes { buffer -> String? in
            var scanner = JSONScanner(buffer)
            do {
                scanner.skipWhitespace()
                try scanner.expect(UInt8(ascii: "{"))
                scanner.skipWhitespace()
                guard scanner.peek() != UInt8(ascii: "}") else { return nil }
                while true {
                    guard scanner.peek() == UInt8(ascii: "\"") else { return nil }
                    let name = try scanner.scanString()
                    scanner.skipWhitespace()
                    try scanner.expect(UInt8(ascii: ":"))
                    scanner.skipWhitespace()
                    if Self.matches(name, key, in: scanner) {
                        guard scanner.peek() == UInt8(ascii: "\"") else { return nil }
                        return scanner.decodeString(try scanner.scanString())
                    }
                    try scanner.skipValue(depth: 1)
                    scanner.skipWhitespace()
                    try scanner.expect(UInt8(ascii: ","))
                    scanner.skipWhitespace()
                }
            } catch {
                return nil
            }
        }
    }

    /// Whether the scanned member name `name` is `key`: bytes compared in place, unescaped first
    /// only when the name has escapes.
    private static func matches(_ name: JSONScanner.StringRange, _ key: String, in scanner: JSONScanner) -> Bool {
        if name.hasEscapes { return scanner.decodeString(name) == key }
        var key = key
        return key.withUTF8 { utf8 in
            utf8.count == name.end - name.start
                && utf8.elementsEqual(UnsafeRawBufferPointer(rebasing: scanner.bytes[name.start..<name.end]))
        }
    }
}
