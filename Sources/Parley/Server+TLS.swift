import ParleyWebSocket

extension Server {
    /// Loads the certificate chain and key of ``Configuration/tls`` again (the files are read
    /// anew): connections accepted from now on use them, open ones go on with theirs. Call it
    /// when a certificate is renewed; `parley-server` does on `SIGHUP`. Nothing changes when it
    /// throws.
    ///
    /// ```swift
    /// let signals = ProcessSignals(onHangUp: { try? server.reloadTLS() }) { ... }
    /// ```
    /// - Throws: ``WebSocketError/tls(_:)`` naming the file or setting at fault,
    ///   ``WebSocketError/tlsNotConfigured`` for a server without ``Configuration/tls``.
    public func reloadTLS() throws(WebSocketError) {
        try webSocketServer.reloadTLS()
    }
}

extension Server.Router {
    /// The client's address and scheme: the connection's, or the forwarded ones when the peer is
    /// one of ``Server/Configuration/trustedProxies``.
    func clientOrigin(_ request: HTTPRequestHead, peer: String, secure: Bool) -> (address: String, secure: Bool) {
        guard !configuration.trustedProxies.isEmpty else { return (peer, secure) }
        return ForwardedClient(trustedProxies: configuration.trustedProxies).resolve(request, peer: peer, secure: secure)
    }
}
