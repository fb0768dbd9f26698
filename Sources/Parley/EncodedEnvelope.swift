/// An envelope already encoded: the payload of the text frame its receivers get, encoded once by
/// the node that emitted it and relayed between nodes as bytes, never parsed.
public struct EncodedEnvelope: Sendable, Hashable {
    /// The JSON text, UTF-8 (Protocol.md, "The envelope").
    public let bytes: [UInt8]
    /// Whether `data` is the event's argument list (an event emitted with several arguments):
    /// Socket.IO clients then get the array's elements as their arguments, envelope clients
    /// the array as `data` (Protocol.md 12.2).
    public let spreadsArguments: Bool

    /// Wraps bytes received from another node, unchecked: nodes of a cluster trust each other,
    /// and the bytes are written to clients as they are.
    /// - Parameters:
    ///   - bytes: an envelope as the emitting node encoded it.
    ///   - spreadsArguments: `data` is the argument list (``spreadsArguments``); false by
    ///     default, an event of one argument (or none).
    public init(unchecked bytes: [UInt8], spreadsArguments: Bool = false) {
        self.bytes = bytes
        self.spreadsArguments = spreadsArguments
    }
}
