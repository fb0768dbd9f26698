/// The closing handshake (RFC 6455 5.5.1, 7.1) as a pure state machine that returns actions.
struct CloseHandshake: Sendable, Equatable {
    enum Action: Sendable, Equatable {
        /// Send a close frame with this payload.
        case sendClose(payload: [UInt8])
        /// Start the close timer: the peer has `closeTimeout` to answer.
        case awaitReply
        /// The handshake is over (or the connection failed): once queued bytes are written,
        /// stop sending (a server, or a failing client, also half-closes TCP) and wait for the
        /// peer's TCP close, bounded by the close timer.
        case finish(shutdownWrite: Bool)
    }

    let isServer: Bool
    private(set) var sentClose = false
    private(set) var receivedClose = false
    /// The code and reason reported when the connection ends, once known.
    private(set) var code: CloseCode?
    private(set) var reason = ""

    init(isServer: Bool) { self.isServer = isServer }

    /// Frames from the peer are still expected (no close received, no failure).
    var isReading: Bool { !receivedClose }
    /// Data may still be sent.
    var canSend: Bool { !sentClose }

    /// The application closes the connection.
    mutating func localClose(code: CloseCode, reason: String) -> [Action] {
        guard !sentClose else { return [] }
        sentClose = true
        self.code = code
        self.reason = reason
        return [.sendClose(payload: FrameEncoder.closePayload(code: code, reason: reason)), .awaitReply]
    }

    /// A close frame arrived. RFC 6455 5.5.1: answer with a close frame (echoing the code)
    /// unless one was sent already; then the handshake is complete.
    mutating func peerClose(code: CloseCode?, reason: String) -> [Action] {
        guard !receivedClose else { return [] }
        receivedClose = true
        var actions: [Action] = []
        if !sentClose {
            sentClose = true
            actions.append(.sendClose(payload: code.map { FrameEncoder.closePayload(code: $0, reason: "") } ?? []))
        }
        self.code = code ?? .noStatusReceived
        self.reason = reason
        // RFC 6455 7.1.1: the server closes TCP first; the client waits for it.
        actions.append(.finish(shutdownWrite: isServer))
        return actions
    }

    /// The peer broke the protocol: RFC 6455 7.1.7, send a close frame with the code and stop.
    mutating func fail(_ error: WebSocketError) -> [Action] {
        fail(code: error.closeCode, reason: String(error.description.prefix(100)))
    }

    /// This side gives up on the connection (RFC 6455 7.1.7): send a close frame with `code`
    /// unless one was sent, read nothing more, and finish.
    mutating func fail(code: CloseCode, reason: String) -> [Action] {
        guard !receivedClose else { return [] }
        receivedClose = true
        var actions: [Action] = []
        if !sentClose {
            sentClose = true
            actions.append(.sendClose(payload: FrameEncoder.closePayload(code: code, reason: reason)))
        }
        self.code = code
        self.reason = reason
        actions.append(.finish(shutdownWrite: true))
        return actions
    }
}
