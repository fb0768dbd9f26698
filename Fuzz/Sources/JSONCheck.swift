import Foundation

/// JSON validity as the targets check it: RFC 8259's grammar, by `JSONSerialization`, after
/// two rewrites that keep a text valid or invalid but spare Foundation's own limits:
/// surrogate escapes are neutralised (see ``EnvelopeTarget/withoutSurrogateEscapes(_:)``:
/// Foundation refuses unpaired surrogates, which the grammar allows), and each run of digits
/// outside strings is cut to its first two digits, each `1` unless `0` (Foundation refuses
/// numbers beyond a `Double`, such as `1e400`, which the grammar allows; a leading zero
/// followed by a digit stays, and stays invalid).
enum JSONCheck {
    /// Whether `bytes` are one JSON text (any value with `fragments`, else an object or array).
    static func isJSON(_ bytes: [UInt8], fragments: Bool) -> Bool {
        parse(bytes, fragments: fragments) != nil
    }

    /// The value `JSONSerialization` reads from `bytes` (rewritten as above), or nil.
    static func parse(_ bytes: [UInt8], fragments: Bool) -> Any? {
        let checked = shortNumbers(EnvelopeTarget.withoutSurrogateEscapes(bytes))
        return try? JSONSerialization.jsonObject(with: Data(checked), options: fragments ? [.fragmentsAllowed] : [])
    }

    /// `bytes` with each digit run outside strings cut to two digits, `0` kept and others `1`.
    static func shortNumbers(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var inString = false
        var escaped = false
        var run = 0
        for byte in bytes {
            if inString {
                out.append(byte)
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                run += 1
                if run <= 2 { out.append(byte == UInt8(ascii: "0") ? byte : UInt8(ascii: "1")) }
                continue
            }
            run = 0
            if byte == UInt8(ascii: "\"") { inString = true }
            out.append(byte)
        }
        return out
    }

    /// `bytes` without the whitespace outside strings: equal for JSON texts that differ only there.
    static func minified(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
            } else if [0x20, 0x09, 0x0A, 0x0D].contains(byte) {
                continue
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            }
            out.append(byte)
        }
        return out
    }

    /// The start of `bytes` as text, for a failure message.
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes.prefix(200), as: UTF8.self) }
}
