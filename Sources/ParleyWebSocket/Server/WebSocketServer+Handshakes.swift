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
}

extension UpgradeHandler {
    /// The head is answered (or the connection dropped): the handshake no longer counts toward
    /// the caps. Idempotent.
    func endHandshake() {
        guard let host = handshakeHost else { return }
        handshakeHost = nil
        context.endHandshake(host: host)
    }
}
