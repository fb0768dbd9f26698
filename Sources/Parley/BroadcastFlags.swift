/// How a broadcast is delivered (``BroadcastOperator/volatile``, ``BroadcastOperator/local``).
public struct BroadcastFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// Emits may be dropped for a client whose connection is not writable right now.
    public static let volatile = BroadcastFlags(rawValue: 1 << 0)
    /// The operation stays on this node: it is never given to the ``ClusterAdapter``.
    public static let local = BroadcastFlags(rawValue: 1 << 1)
}
