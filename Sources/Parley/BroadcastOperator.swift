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
/// With a cluster adapter (``Server/Configuration/clusterAdapter``) `emit`, `socketsJoin`,
/// `socketsLeave` and `disconnectSockets` act on the selected sockets of every node (each
/// node applies them to its own sockets); `fetchSockets` returns this node's sockets only.
public struct BroadcastOperator: Sendable {
    let namespace: Namespace
    var selection: BroadcastSelection
    var flags: BroadcastFlags = []

    init(namespace: Namespace, selection: BroadcastSelection? = nil, flags: BroadcastFlags = []) {
        self.namespace = namespace
        self.selection = selection ?? BroadcastSelection(namespace: namespace.name)
        self.flags = flags
    }

    /// Also targets members of `room` (targets are the union of the rooms given; none given
    /// means everyone).
    public func to(_ room: String) -> BroadcastOperator {
        var copy = self
        copy.selection.rooms.insert(room)
        return copy
    }

    /// Leaves out members of `room`.
    public func except(_ room: String) -> BroadcastOperator {
        var copy = self
        copy.selection.exceptRooms.insert(room)
        return copy
    }

    func excluding(socket id: String) -> BroadcastOperator {
        var copy = self
        copy.selection.exceptSocket = id
        return copy
    }

    /// Emits that may be dropped for a client whose connection is not writable right now.
    public var volatile: BroadcastOperator {
        var copy = self
        copy.flags.insert(.volatile)
        return copy
    }

    /// Emits and room operations that stay on this node: with a cluster adapter, they are not
    /// published to the other nodes (Socket.IO's `local` flag). Without one, all are local.
    public var local: BroadcastOperator {
        var copy = self
        copy.flags.insert(.local)
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
        let envelope = EncodedEnvelope(unchecked: EnvelopeCodec.encode(.event(name: event, data: data, id: nil)))
        // Published without an offset: each node numbers the events of its own log (or, with a
        // cluster recovery store, the cluster's log numbers it).
        apply(.emit(envelope))
    }

    /// Emits `event` without data.
    public func emit(_ event: String) throws {
        try emit(event, nil as RawJSON?)
    }

    /// The selected sockets of this node.
    public func fetchSockets() -> [Socket] {
        namespace.roomStore.sockets(selection)
    }

    /// Makes the selected sockets join `rooms` (on every node, with a cluster adapter). A socket
    /// the join would take over its room bounds, or a room name of the form of a socket id, is
    /// left out (see ``Socket/join(_:)-(String...)``), and logged when the server is verbose.
    public func socketsJoin(_ rooms: String...) {
        apply(.socketsJoin(rooms))
    }

    /// Makes the selected sockets leave `room` (on every node, with a cluster adapter).
    public func socketsLeave(_ room: String) {
        apply(.socketsLeave([room]))
    }

    /// Disconnects the selected sockets (on every node, with a cluster adapter): each gets
    /// `disconnect`, then close 1000.
    public func disconnectSockets() {
        apply(.disconnectSockets)
    }

    /// Applies `action` here, then (unless `local`) publishes it to the other nodes; with a
    /// cluster recovery store, appends it to the cluster's ordered log instead (an emit then
    /// reaches this node's sockets from the log, like every other node's).
    func apply(_ action: ClusterOperation.Action) {
        // With a cluster recovery store, the cluster's ordered log carries it (and numbers emits).
        if let recovery = namespace.recovery,
           recovery.appendToStore(ClusterOperation(selection: selection, flags: flags, action: action), rooms: namespace.roomStore) {
            if case .emit = action { return }   // it reaches this node's sockets from the log
            return applyLocally(action)
        }
        applyLocally(action)
        publish(action)
    }

    /// Gives `action` with this selection to the cluster adapter, if any, unless `local`.
    func publish(_ action: ClusterOperation.Action) {
        guard !flags.contains(.local), let cluster = namespace.cluster else { return }
        cluster.publish(ClusterOperation(selection: selection, flags: flags, action: action))
    }

    /// Applies `action` to this node's selected sockets.
    func applyLocally(_ action: ClusterOperation.Action) {
        switch action {
        case .emit(let envelope): deliver(envelope)
        case .socketsJoin(let rooms):
            for socket in fetchSockets() {
                do { try socket.join(rooms) } catch { namespace.log("parley: socket \(socket.id) cannot join: \(error)") }
            }
        case .socketsLeave(let rooms): for socket in fetchSockets() { for room in rooms { socket.leave(room) } }
        case .disconnectSockets: for socket in fetchSockets() { socket.disconnect() }
        }
    }

    /// Writes one encoded envelope to every selected socket: one frame, one hand-off per event
    /// loop (sockets on the caller's own loop are written to directly).
    func deliver(_ envelope: EncodedEnvelope) {
        // With recovery, a non-volatile event is numbered, kept and delivered in offset order.
        if let recovery = namespace.recovery, !flags.contains(.volatile) {
            return recovery.emit(envelope.bytes, selection: selection, rooms: namespace.roomStore, spreadsArguments: envelope.spreadsArguments)
        }
        let sockets = fetchSockets()
        guard !sockets.isEmpty else { return }
        let frame = envelope.bytes.withUnsafeBytes { EncodedFrame(opcode: .text, payload: $0) }
        let isVolatile = flags.contains(.volatile)
        // Sockets of the caller's own loop are written to at once; the others are grouped, one
        // hand-off per loop (a handful of loops: a linear search is the fastest lookup).
        var groups: [(loop: EventLoop, connections: [WebSocket])] = []
        var socketIOTargets: [Socket] = []
        for socket in sockets {
            guard case .envelope(let connection) = socket.link else {
                socketIOTargets.append(socket)
                continue
            }
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
        if !socketIOTargets.isEmpty {
            SocketIOConnection.deliver(envelope.bytes, to: socketIOTargets, namespace: namespace.name, volatile: isVolatile,
                                       spreadsArguments: envelope.spreadsArguments)
        }
    }
}
