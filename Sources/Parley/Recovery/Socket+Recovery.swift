import ParleyProtocol
import ParleyWebSocket

extension Socket {
    /// Whether this socket continues a session whose connection was lost: the client came back
    /// within ``Server/ConnectionStateRecovery/maxDisconnectionDuration`` with its session token,
    /// and got its id, rooms, `data` and the events it missed back (Protocol.md 5.5). False
    /// for a new session, and always when recovery is off.
    ///
    /// ```swift
    /// io.onConnection { socket in
    ///     if !socket.recovered { socket.join("lobby") }   // a recovered socket is in it already
    /// }
    /// ```
    public var recovered: Bool { recovery?.recovered.load(ordering: .acquiring) ?? false }

    /// Ends this socket because a newer connection took its session over: `transport close`,
    /// and its transport dropped.
    func endReplaced() {
        finish(.transportClose)
        envelopeConnection?.terminate(reason: "replaced by a newer connection")
    }

    /// Whether the event with acknowledgement `id` was seen before from this client (Protocol.md
    /// 5.6), and was answered again or will be: its handlers must not run.
    /// While the server shuts down, such events are dropped instead: their answer could not
    /// reach the client, which sends them again to the next server.
    func isDuplicate(ackID id: UInt64) -> Bool {
        guard let key = recovery?.dedupeKey, let recovery = namespace.recovery else { return false }
        if isShuttingDown { return true }
        switch recovery.begin(dedupeKey: key, id: id, socket: self) {
        case .run: return false
        case .resend(let bytes): envelopeConnection?.send(textUTF8: bytes)
        case .wait: break
        }
        return true
    }

    /// Sends an acknowledgement, remembering it for deduplication when the client asked.
    func sendAnswer(_ envelope: Envelope) {
        // A Socket.IO client gets its dialect's ACK (no deduplication: Protocol.md 12).
        guard let connection = envelopeConnection else { return send(envelope) }
        let bytes = EnvelopeCodec.encode(envelope)
        connection.send(textUTF8: bytes)
        guard let key = recovery?.dedupeKey, let recovery = namespace.recovery else { return }
        let id: UInt64
        switch envelope {
        case .ack(let answered, _), .ackError(let answered, _): id = answered
        case .event: return
        }
        for waiter in recovery.answered(dedupeKey: key, id: id, bytes: bytes) where waiter !== self {
            waiter.envelopeConnection?.send(textUTF8: bytes)
        }
    }
}
