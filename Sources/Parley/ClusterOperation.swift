/// One broadcast operation as a ``ClusterAdapter`` carries it between nodes: which sockets,
/// how, and what to do with them. A plain value: an engine encodes it however it likes.
///
/// ```swift
/// // io.to("room1").except("banned").volatile.emit("news", "hi") publishes:
/// ClusterOperation(selection: BroadcastSelection(namespace: "/", rooms: ["room1"], exceptRooms: ["banned"]),
///                  flags: .volatile, action: .emit(envelope))   // envelope: {"event":"news","data":"hi"}
/// ```
public struct ClusterOperation: Sendable, Equatable {
    /// What the nodes do with the sockets they select.
    public enum Action: Sendable, Equatable {
        /// Write this envelope (a text frame) to each: `emit`.
        case emit(EncodedEnvelope)
        /// Make each join these rooms: `socketsJoin`.
        case socketsJoin([String])
        /// Make each leave these rooms: `socketsLeave`.
        case socketsLeave([String])
        /// Disconnect each (`disconnect`, then close 1000): `disconnectSockets`.
        case disconnectSockets
    }

    /// The namespace and the rooms that pick the sockets.
    public var selection: BroadcastSelection
    /// Delivery flags (``BroadcastFlags/volatile``).
    public var flags: BroadcastFlags
    /// What to do with the selected sockets.
    public var action: Action

    /// Creates an operation.
    /// - Parameters:
    ///   - selection: which sockets.
    ///   - flags: how; none by default.
    ///   - action: what.
    public init(selection: BroadcastSelection, flags: BroadcastFlags = [], action: Action) {
        self.selection = selection
        self.flags = flags
        self.action = action
    }
}
