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

    private func isJSON(_ bytes: [UInt8], fragments: Bool) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: fragments ? [.fragmentsAllowed] : [])) != nil
    }

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes.prefix(200), as: UTF8.self) }
}
