import Foundation
import ParleyProtocol

/// The envelope codec (Protocol.md 3–4). A decoded envelope re-encodes to valid JSON that
/// decodes to the same envelope and re-encodes to the same bytes; its data is valid JSON.
struct EnvelopeTarget: FuzzTarget {
    func run(_ input: UnsafeRawBufferPointer) {
        guard let envelope = try? EnvelopeCodec.decode(input) else { return }
        let encoded = EnvelopeCodec.encode(envelope)
        require(isJSON(encoded, fragments: false), "the encoding of \(envelope) is not a JSON object: \(text(encoded))")
        let again: Envelope
        do {
            again = try EnvelopeCodec.decode(encoded)
        } catch {
            return require(false, "the encoding of \(envelope) does not decode: \(error)")
        }
        require(again == envelope, "decode(encode(e)) != e: \(again) vs \(envelope)")
        require(EnvelopeCodec.encode(again) == encoded, "encoding is not stable for \(envelope)")
        switch envelope {
        case .event(_, let data?, _), .ack(_, let data?):
            require(isJSON(data.bytes, fragments: true), "data is not valid JSON: \(text(data.bytes))")
        default: break
        }
    }

    /// Valid JSON by the RFC 8259 grammar (``JSONCheck``: Foundation's limits on surrogate
    /// escapes and on numbers beyond a `Double` are spared).
    private func isJSON(_ bytes: [UInt8], fragments: Bool) -> Bool {
        JSONCheck.isJSON(bytes, fragments: fragments)
    }

    /// `bytes` with every `\uD800`–`\uDFFF` escape inside a string swapped for `\u0041`: the grammar
    /// allows any `\uXXXX` escape, but Foundation refuses unpaired surrogates (which browsers'
    /// JSON.parse accepts and Parley relays as they are).
    static func withoutSurrogateEscapes(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        var inString = false
        var index = 0
        func isHex(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20)
        }
        while index < out.count {
            let byte = out[index]
            if !inString {
                if byte == UInt8(ascii: "\"") { inString = true }
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\"") {
                inString = false
                index += 1
            } else if byte == UInt8(ascii: "\\"), index + 1 < out.count {
                // \uD800 to \uDFFF: "d", then 8, 9 or a to f (hex digits in ASCII '8'...'f', case folded).
                if out[index + 1] == UInt8(ascii: "u"), index + 5 < out.count, out[(index + 2)...(index + 5)].allSatisfy(isHex),
                   out[index + 2] | 0x20 == UInt8(ascii: "d"), (UInt8(ascii: "8")...UInt8(ascii: "f")).contains(out[index + 3] | 0x20) {
                    out.replaceSubrange((index + 2)...(index + 5), with: Array("0041".utf8))
                }
                index += 2
            } else {
                index += 1
            }
        }
        return out
    }

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes.prefix(200), as: UTF8.self) }
}
