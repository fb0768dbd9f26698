/// Encodes Redis commands as RESP2 arrays of bulk strings, the only form a client sends.
/// Pure: no I/O.
///
/// ```swift
/// var out: [UInt8] = []
/// RESPEncoder.appendCommand(["PUBLISH", "news", "hello"], to: &out)
/// // *3\r\n$7\r\nPUBLISH\r\n$4\r\nnews\r\n$5\r\nhello\r\n
/// ```
public enum RESPEncoder {
    /// Appends one command (name and arguments, each a bulk string) to `buffer`.
    public static func appendCommand(_ parts: [String], to buffer: inout [UInt8]) {
        appendArrayHeader(parts.count, to: &buffer)
        for part in parts {
            var part = part
            part.withUTF8 { appendBulk(UnsafeRawBufferPointer($0), to: &buffer) }
        }
    }

    /// Appends one command given as raw byte arguments (binary-safe) to `buffer`.
    public static func appendCommand(_ parts: [[UInt8]], to buffer: inout [UInt8]) {
        appendArrayHeader(parts.count, to: &buffer)
        for part in parts { part.withUnsafeBytes { appendBulk($0, to: &buffer) } }
    }

    /// `*count\r\n`.
    public static func appendArrayHeader(_ count: Int, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "*"))
        appendDecimal(count, to: &buffer)
    }

    /// `$length\r\nbytes\r\n`.
    public static func appendBulk(_ bytes: UnsafeRawBufferPointer, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "$"))
        appendDecimal(bytes.count, to: &buffer)
        buffer.append(contentsOf: bytes)
        buffer.append(contentsOf: crlf)
    }

    /// The encoded form of one command, as a new array.
    public static func command(_ parts: [String]) -> [UInt8] {
        var buffer: [UInt8] = []
        appendCommand(parts, to: &buffer)
        return buffer
    }

    private static let crlf: [UInt8] = [13, 10]

    /// `value` in decimal digits, then CRLF, without a String in between.
    private static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        if value < 10 {
            buffer.append(UInt8(ascii: "0") + UInt8(value))
        } else {
            var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                         UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            var count = 0
            var rest = value
            withUnsafeMutableBytes(of: &digits) { raw in
                while rest > 0 {
                    raw[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                    count += 1
                }
                for index in stride(from: count - 1, through: 0, by: -1) { buffer.append(raw[index]) }
            }
        }
        buffer.append(contentsOf: crlf)
    }
}
