import ParleyProtocol
import ParleyWebSocket

/// Selects sockets of a namespace and emits to them. Immutable and chainable, like
/// Socket.IO's broadcast operator: `to`/`except` return new values.
///
/// ```swift
/// io.to("room1").to("room2").except("banned").emit("news", headline)
/// socket.broadcast.volatile.emit("cursor", position)   // dropped for slow consumers
/// io.local.emit("node news", nodeName)                   // this node's sockets only
/// ```
///
/// With a Redis adapter (``ClusterAdapter/redis(url:channelPrefix:)``) `emit`, `socketsJoin`,
/// `socketsLeave` and `disconnectSockets` act on the selected sockets of every node (each
/// node applies them to its own sockets); `fetchSockets` returns this node's sockets only.
public struct BroadcastOperator: Sendable {
    let namespace: Namespace
    var rooms: Set<String> = []
    var exceptRooms: Set<String> = []
    var exceptSocket: String?
    var isVolatile = false
    var isLocal = false

    init(namespace: Namespace) {
        self.namespace = namespace
    }

    /// Also targets members of `room` (targets are the union of the rooms given; none given
    /// means everyone).
    public func to(_ room: String) -> BroadcastOperator {
        var copy = self
        copy.rooms.insert(room)
        return copy
    }

    /// Leaves out members of `room`.
    public func except(_ room: String) -> BroadcastOperator {
        var copy = self
        copy.exceptRooms.insert(room)
        return copy
    }

    func excluding(socket id: String) -> BroadcastOperator {
        var copy = self
        copy.exceptSocket = id
        return copy
    }

    /// Emits that may be dropped for a client whose connection is not writable right now.
    public var volatile: BroadcastOperator {
        var copy = self
        copy.isVolatile = true
        return copy
    }

    /// Emits that stay on this node: with a Redis adapter, they are not published to the
    /// other nodes (Socket.IO's `local` flag). Without one, every emit is local anyway.
    public var local: BroadcastOperator {
        var copy = self
        copy.isLocal = true
        return copy
    }

    /// Emits `event` with `data` to every selected socket: the envelope is encoded once and the
    /// same frame bytes are written to every target.
    /// - Throws: ``ParleyError/reservedEvent(_:)``, ``ParleyError/encodingFailed(_:)``.
    public func emit<T: Encodable>(_ event: String, _ data: T) throws {
        try emit(event, RawJSON.encoded(data))
    }

    /// Emits `event` with already-encoded JSON data (relayed as is).
    public func emit(_ event: String, _ data: RawJSON?) throws {
        try Namespace.checkEventName(event)
        let envelope = EnvelopeCodec.encode(.event(name: event, data: data, id: nil))
        deliver(envelope)
        if !isLocal, let cluster = namespace.cluster { cluster.publish(self, .emit(envelope: envelope)) }
    }

    /// Emits `event` without data.
    public func emit(_ event: String) throws {
        try emit(event, nil as RawJSON?)
    }

    /// The selected sockets of this node.
    public func fetchSockets() -> [Socket] {
        namespace.adapter.sockets(in: rooms, except: exceptRooms, exceptSocket: exceptSocket)
    }

    /// Makes the selected sockets join `rooms` (on every node, with a Redis adapter). A socket
    /// the join would take over its room bounds, or a room name of the form of a socket id, is
    /// left out (see ``Socket/join(_:)-(String...)``), and logged when the server is verbose.
    public func socketsJoin(_ rooms: String...) {
        apply(.join(rooms))
    }

    /// Makes the selected sockets leave `room` (on every node, with a Redis adapter).
    public func socketsLeave(_ room: String) {
        apply(.leave([room]))
    }

    /// Disconnects the selected sockets (on every node, with a Redis adapter): each gets
    /// `disconnect`, then close 1000.
    public func disconnectSockets() {
        apply(.disconnect)
    }

    /// Applies `operation` here, then (unless `local`) publishes it to the other nodes.
    func apply(_ operation: ClusterMessage.Operation) {
        applyLocally(operation)
        if !isLocal, let cluster = namespace.cluster { cluster.publish(self, operation) }
    }

    /// Applies `operation` to this node's selected sockets.
    func applyLocally(_ operation: ClusterMessage.Operation) {
        switch operation {
        case .emit(let envelope): deliver(envelope)
        case .join(let rooms):
            for socket in fetchSockets() {
                do { try socket.join(rooms) } catch { namespace.log("parley: socket \(socket.id) cannot join: \(error)") }
            }
        case .leave(let rooms): for socket in fetchSockets() { for room in rooms { socket.leave(room) } }
        case .disconnect: for socket in fetchSockets() { socket.disconnect() }
        }
    }

    /// Writes one encoded envelope to every selected socket: one frame, one hand-off per event
    /// loop (sockets on the caller's own loop are written to directly).
    func deliver(_ envelope: [UInt8]) {
        let sockets = fetchSockets()
        guard !sockets.isEmpty else { return }
        let frame = envelope.withUnsafeBytes { EncodedFrame(opcode: .text, payload: $0) }
        let isVolatile = self.isVolatile
        // Sockets of the caller's own loop are written to at once; the others are grouped, one
        // hand-off per loop (a handful of loops: a linear search is the fastest lookup).
        var groups: [(loop: EventLoop, connections: [WebSocket])] = []
        for socket in sockets {
            let connection = socket.connection
            let loop = connection.loop
            if loop.inEventLoop {
                connection.send(frame, volatile: isVolatile)
            } else if let index = groups.firstIndex(where: { $0.loop === loop }) {
                groups[index].connections.append(connection)
            } else {
                groups.append((loop, [connection]))
            }
        }
        for (loop, connections) in groups {
            loop.execute { for connection in connections { connection.send(frame, volatile: isVolatile) } }
        }
    }
}
