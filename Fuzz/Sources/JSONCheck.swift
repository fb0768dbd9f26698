import Foundation

/// JSON validity as the targets check it: RFC 8259's grammar, by `JSONSerialization`, with
/// surrogate escapes neutralised first (see ``EnvelopeTarget/withoutSurrogateEscapes(_:)``:
/// Foundation refuses unpaired surrogates, which the grammar allows).
enum JSONCheck {
    /// Whether `bytes` are one JSON text (any value with `fragments`, else an object or array).
    static func isJSON(_ bytes: [UInt8], fragments: Bool) -> Bool {
        parse(bytes, fragments: fragments) != nil
    }

    /// The value `JSONSerialization` reads from `bytes`, or nil.
    static func parse(_ bytes: [UInt8], fragments: Bool) -> Any? {
        let checked = EnvelopeTarget.withoutSurrogateEscapes(bytes)
        return try? JSONSerialization.jsonObject(with: Data(checked), options: fragments ? [.fragmentsAllowed] : [])
    }

    /// The start of `bytes` as text, for a failure message.
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes.prefix(200), as: UTF8.self) }
}
