/// Which sockets of a namespace a broadcast reaches: those in any of ``rooms`` (every socket
/// when there are none), minus those in any of ``exceptRooms``, minus ``exceptSocket``. A room
/// named by a socket id selects that socket. Each node applies a selection to its own sockets.
///
/// ```swift
/// // socket.broadcast.to("room1").except("banned") selects:
/// BroadcastSelection(namespace: "/", rooms: ["room1"], exceptRooms: ["banned"], exceptSocket: socket.id)
/// ```
public struct BroadcastSelection: Sendable, Hashable {
    /// The namespace, e.g. `/` or `/admin`.
    public var namespace: String
    /// Target the members of any of these rooms; empty: every socket of the namespace.
    public var rooms: Set<String>
    /// Leave out the members of these rooms.
    public var exceptRooms: Set<String>
    /// Leave out this socket (the sender of `socket.broadcast`), if any.
    public var exceptSocket: String?

    /// Creates a selection; by default every socket of `namespace`.
    /// - Parameters:
    ///   - namespace: the namespace name.
    ///   - rooms: target rooms; none: everyone.
    ///   - exceptRooms: rooms whose members are left out.
    ///   - exceptSocket: a socket id to leave out.
    public init(namespace: String, rooms: Set<String> = [], exceptRooms: Set<String> = [], exceptSocket: String? = nil) {
        self.namespace = namespace
        self.rooms = rooms
        self.exceptRooms = exceptRooms
        self.exceptSocket = exceptSocket
    }
}
