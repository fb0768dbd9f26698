@_spi(IO) import ParleyIO

extension WebSocketServer.Context {
    /// The answer to a connection over a handshake cap, encoded once.
    static let handshakesFullResponse = HTTPResponse.plain(503, extraHeaders: [("Retry-After", "1")]).encoded()

    /// Counts a handshake starting on the accepted `fd` toward ``WebSocketServer/Configuration/maxHandshakes``
    /// and ``WebSocketServer/Configuration/maxHandshakesPerAddress``.
    /// - Returns: the client's host, to hand to ``endHandshake(host:)`` once the head is
    ///   answered; nil when a cap is reached: `fd` was then answered `503` (written at once,
    ///   nothing read; with TLS, nothing written) and closed.
    func beginHandshake(_ fd: Int32) -> String? {
        let host = RefusalLimiter.limitKey(ofPeer: SystemSocket.peerAddress(fd))
        if handshakes.withLock({ $0.begin(from: host) }) { return host }
        let transport = Transport.plain(fd)
        // A TLS listener's client expects a handshake, not plain HTTP: it only sees the close.
        if tls.withLock({ $0 }) == nil {
            _ = Self.handshakesFullResponse.withUnsafeBytes { transport.write($0) }
            transport.shutdownOutput()
        }
        transport.close()
        return nil
    }

    /// Ends a handshake ``beginHandshake(_:)`` counted.
    func endHandshake(host: String) {
        handshakes.withLock { $0.end(from: host) }
    }

    /// Counts a persistent connection from `host` waiting for its next request toward the
    /// caps of ``WebSocketServer/Configuration/keepAliveTimeout``.
    /// - Returns: false when a cap is reached (the connection is then closed after its answer).
    func beginKeptAlive(host: String) -> Bool {
        keptAlive.withLock { $0.begin(from: host) }
    }

    /// Ends what ``beginKeptAlive(host:)`` counted.
    func endKeptAlive(host: String) {
        keptAlive.withLock { $0.end(from: host) }
    }
}

extension UpgradeHandler {
    /// The cap a connection counts toward while its request head is not complete.
    enum Cap {
        /// A new connection: ``WebSocketServer/Configuration/maxHandshakes`` and its per-address cap.
        case handshake
        /// A persistent connection after an answer (``WebSocketServer/Configuration/keepAliveTimeout``).
        case keptAlive
    }

    /// The head is answered (or the connection dropped): the connection no longer counts
    /// toward a cap. Idempotent.
    func endHandshake() {
        guard let cap = countedCap else { return }
        countedCap = nil
        switch cap {
        case .handshake: context.endHandshake(host: clientKey)
        case .keptAlive: context.endKeptAlive(host: clientKey)
        }
    }

    /// Counts the connection as persistent, waiting for its next request, from now until its
    /// next head is complete.
    /// - Returns: false when a cap is reached: the connection closes after its answer.
    func beginKeptAlive() -> Bool {
        endHandshake()
        guard context.beginKeptAlive(host: clientKey) else { return false }
        countedCap = .keptAlive
        return true
    }
}
