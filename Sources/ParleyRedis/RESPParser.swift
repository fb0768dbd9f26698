/// An incremental RESP2 parser: feed it bytes as they arrive, split anywhere, and take
/// complete values out. Pure: no I/O. Bounded: a value whose encoding would exceed
/// ``maxValueBytes`` is a protocol error, as is anything that is not RESP2.
///
/// ```swift
/// var parser = RESPParser()
/// parser.feed(Array("+OK\r\n:4".utf8))
/// try parser.next()   // .simpleString("OK")
/// try parser.next()   // nil: the integer is not complete yet
/// parser.feed(Array("2\r\n".utf8))
/// try parser.next()   // .integer(42)
/// ```
public struct RESPParser: Sendable {
    /// The largest encoded value accepted. Redis caps a bulk string at 512 MB; 64 MiB default:
    /// Parley publishes messages of at most a few MB, and a peer cannot make the client hold more.
    public let maxValueBytes: Int
    /// Nesting of arrays at most. 16: pub/sub messages nest 1 deep, `EXEC` replies 2.
    public let maxDepth: Int

    private var buffer: [UInt8] = []
    private var start = 0

    /// - Parameters:
    ///   - maxValueBytes: see ``maxValueBytes``.
    ///   - maxDepth: see ``maxDepth``.
    public init(maxValueBytes: Int = 64 * 1024 * 1024, maxDepth: Int = 16) {
        self.maxValueBytes = maxValueBytes
        self.maxDepth = maxDepth
    }

    /// Bytes received and not yet parsed into a value.
    public var bufferedBytes: Int { buffer.count - start }

    /// Appends received bytes.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Appends received bytes.
    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// The next complete value, or nil until more bytes arrive.
    /// - Throws: ``RedisError/protocolError(_:)`` for bytes that are not RESP2 or exceed the
    ///   limits; the parser must not be used afterwards (drop the connection).
    public mutating func next() throws -> RESPValue? {
        guard start < buffer.count else { return nil }
        let parsed = try buffer.withUnsafeBufferPointer { bytes -> (RESPValue, Int)? in
            var cursor = Cursor(bytes: bytes, position: start, limit: start + maxValueBytes, maxDepth: maxDepth)
            guard let value = try cursor.value(depth: 1) else { return nil }
            return (value, cursor.position)
        }
        guard let (value, end) = parsed else {
            if buffer.count - start > maxValueBytes {
                throw RedisError.protocolError("a reply exceeds \(maxValueBytes) bytes")
            }
            return nil
        }
        start = end
        return value
    }

    /// Drops consumed bytes once they are the larger part of the buffer (amortised O(1)).
    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 256 * 1024)
            start = 0
        } else if start > 4096 && start * 2 > buffer.count {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }

    /// Reads one value from a position; nil when the bytes end before it does.
    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var position: Int
        let limit: Int
        let maxDepth: Int

        mutating func value(depth: Int) throws -> RESPValue? {
            guard position < bytes.count else { return nil }
            let type = bytes[position]
            let lineStart = position + 1
            guard let lineEnd = try lineEnd(from: lineStart) else { return nil }
            let line = UnsafeBufferPointer(rebasing: bytes[lineStart..<lineEnd])
            let next = lineEnd + 2
            switch type {
            case UInt8(ascii: "+"):
                position = next
                return .simpleString(String(decoding: line, as: UTF8.self))
            case UInt8(ascii: "-"):
                position = next
                return .error(String(decoding: line, as: UTF8.self))
            case UInt8(ascii: ":"):
                position = next
                return .integer(try Self.integer(line))
            case UInt8(ascii: "$"):
                let length = try Self.integer(line)
                if length == -1 {
                    position = next
                    return .bulkString(nil)
                }
                guard length >= 0 else { throw RedisError.protocolError("negative bulk length \(length)") }
                guard length <= Int64(limit - next) else { throw RedisError.protocolError("a bulk string of \(length) bytes exceeds the reply limit") }
                let end = next + Int(length)
                guard end + 2 <= bytes.count else { return nil }
                guard bytes[end] == 13, bytes[end + 1] == 10 else { throw RedisError.protocolError("bulk string not followed by CRLF") }
                position = end + 2
                return .bulkString(Array(UnsafeBufferPointer(rebasing: bytes[next..<end])))
            case UInt8(ascii: "*"):
                let count = try Self.integer(line)
                if count == -1 {
                    position = next
                    return .array(nil)
                }
                guard count >= 0 else { throw RedisError.protocolError("negative array length \(count)") }
                // Every element takes at least 3 bytes (":0\r\n" is 4, "+\r\n" 3).
                guard count <= Int64(limit - next) / 3 else { throw RedisError.protocolError("an array of \(count) elements exceeds the reply limit") }
                guard depth < maxDepth else { throw RedisError.protocolError("arrays nested deeper than \(maxDepth)") }
                position = next
                var elements: [RESPValue] = []
                for _ in 0..<count {
                    guard let element = try value(depth: depth + 1) else { return nil }
                    elements.append(element)
                }
                return .array(elements)
            default:
                throw RedisError.protocolError("unknown type byte 0x\(String(type, radix: 16))")
            }
        }

        /// The index of the CR of the CRLF ending the line that starts at `from`.
        private func lineEnd(from: Int) throws -> Int? {
            var index = from
            while index < bytes.count {
                if bytes[index] == 13 {
                    guard index + 1 < bytes.count else { return nil }
                    guard bytes[index + 1] == 10 else { throw RedisError.protocolError("CR without LF") }
                    return index
                }
                if bytes[index] == 10 { throw RedisError.protocolError("LF without CR") }
                index += 1
                if index >= limit { throw RedisError.protocolError("a line exceeds the reply limit") }
            }
            return nil
        }

        /// A decimal integer line: optional `-`, then 1 to 19 digits.
        private static func integer(_ line: UnsafeBufferPointer<UInt8>) throws -> Int64 {
            var digits = line[...]
            let negative = digits.first == UInt8(ascii: "-")
            if negative { digits = digits.dropFirst() }
            guard !digits.isEmpty, digits.count <= 19 else {
                throw RedisError.protocolError("invalid integer '\(String(decoding: line, as: UTF8.self))'")
            }
            var value: Int64 = 0
            for digit in digits {
                guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else {
                    throw RedisError.protocolError("invalid integer '\(String(decoding: line, as: UTF8.self))'")
                }
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(Int64(digit - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { throw RedisError.protocolError("integer out of range") }
                value = sum
            }
            return negative ? -value : value
        }
    }
}
