import ParleyProtocol

// The Socket.IO side of a socket: packets from its namespace of an Engine.IO connection.
extension Socket {
    /// An `EVENT` or `ACK` of this socket's namespace (on the connection's loop).
    func receive(_ packet: SocketIOPacket) {
        guard admitted(.socketIO(packet)) else { return }
        switch packet {
        case .event(_, let name, let arguments, let id):
            dispatchEvent(name, arguments, id: id)
        case .ack(_, let id, let arguments):
            completeAck(id, .success(arguments.data))
        case .connect, .disconnect, .connectError:
            break   // handled by the connection
        }
    }
}
