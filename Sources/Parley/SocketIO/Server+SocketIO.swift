import ParleyProtocol

extension Server.Router {
    /// A Socket.IO `CONNECT` to `name` (on the connection's loop): a socket of its own for that
    /// namespace, through the same middleware as an envelope client; `CONNECT_ERROR`
    /// `Invalid namespace` for a namespace the server does not have.
    func connect(_ connection: SocketIOConnection, namespace name: String, auth: RawJSON?) {
        guard let namespace = namespace(name, create: false) else {
            log("parley: refused \(connection.address): invalid namespace \(name)")
            connection.send(.connectError(namespace: name, payload: RawJSON(unchecked: Array(#"{"message":"Invalid namespace"}"#.utf8))))
            return
        }
        let client = clientOrigin(connection.request, peer: connection.address, secure: connection.secure)
        let handshake = Handshake(socketIORequest: connection.request, address: client.address, secure: client.secure,
                                  namespace: name, auth: auth)
        let socket = Socket(link: .socketIO(connection), handshake: handshake, namespace: namespace, roomLimits: roomLimits)
        connection.attach(socket)
        admit(socket, handshake: handshake, namespace: namespace, loop: connection.loop)
    }
}
