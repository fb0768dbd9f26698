/// An envelope already encoded: the payload of the text frame its receivers get, encoded once by
/// the node that emitted it and relayed between nodes as bytes, never parsed.
public struct EncodedEnvelope: Sendable, Hashable {
    /// The JSON text, UTF-8 (Protocol.md, "The envelope").
    public let bytes: [UInt8]

    /// Wraps bytes received from another node, unchecked: nodes of a cluster trust each other,
    /// and the bytes are written to clients as they are.
    /// - Parameter bytes: an envelope as the emitting node encoded it.
    public init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
    }
}
