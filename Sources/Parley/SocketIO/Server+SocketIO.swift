import ParleyProtocol

extension Server.Router {
    /// A Socket.IO `CONNECT` to `name` (on the connection's loop): a socket of its own for that
    /// namespace, through the same middleware as an envelope client; `CONNECT_ERROR`
    /// `Invalid namespace` for a namespace the server does not have. With connection state
    /// recovery, `auth`'s `pid` and `offset` claim a lost session (Protocol.md 12.4): on this
    /// node, or, with a cluster recovery store, from the store, as for an envelope client.
    func connect(_ connection: SocketIOConnection, namespace name: String, auth: RawJSON?) {
        guard let namespace = namespace(name, create: false) else {
            log("parley: refused \(connection.address): invalid namespace \(name)")
            connection.send(.connectError(namespace: name, payload: RawJSON(unchecked: Array(#"{"message":"Invalid namespace"}"#.utf8))))
            return
        }
        let handshake = Handshake(socketIOQuery: connection.query, headers: connection.headers, address: connection.client.address,
                                  secure: connection.client.secure, namespace: name, auth: auth)
        // With a cluster store the session is asked for first (the client waits meanwhile).
        if let recovery = namespace.recovery, recovery.store != nil, let token = handshake.recoveryToken {
            return connectAfterClusterClaim(connection, handshake: handshake, namespace: namespace, recovery: recovery, token: token)
        }
        connect(connection, handshake: handshake, namespace: namespace, claim: localRecoveryClaim(handshake, in: namespace))
    }

    /// Makes the socket of a Socket.IO client's `CONNECT` (with the outcome of its claim, if it
    /// asked for recovery), then runs middleware and accepts it.
    @discardableResult
    func connect(_ connection: SocketIOConnection, handshake: Handshake, namespace: Namespace,
                 claim: Result<RecoveryClaim, RecoveryFailure>?) -> Socket {
        let recovery = namespace.recovery.map { _ in SocketRecovery(claim: claim, dedupeKey: nil) }
        let socket = Socket(link: .socketIO(connection), handshake: handshake, namespace: namespace, roomLimits: roomLimits, recovery: recovery)
        var skipMiddleware = false
        if let recovery, case .success(let claim)? = recovery.claim {
            handshake.data.restore(from: claim.session.data)
            skipMiddleware = namespace.recovery?.settings.skipMiddlewares == true
        }
        connection.attach(socket)
        admit(socket, handshake: handshake, namespace: namespace, loop: connection.loop, skipMiddleware: skipMiddleware)
        return socket
    }
}
