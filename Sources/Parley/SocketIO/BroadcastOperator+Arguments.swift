import ParleyProtocol

// Broadcasts with several arguments (Protocol.md 12.2).
extension BroadcastOperator {
    /// Emits `event` with several arguments to every selected socket (on every node, with a
    /// cluster adapter): Socket.IO clients get them as their argument list, envelope clients
    /// as `data` (none: absent; one: the value; several: an array). Encoded once per dialect.
    /// Binary attachments go to every client as base64 strings.
    ///
    /// ```swift
    /// try io.to("game").emit("move", EventArguments([RawJSON(json: "3"), RawJSON(json: "4")]))
    /// ```
    /// - Throws: ``ParleyError/reservedEvent(_:)``.
    public func emit(_ event: String, _ arguments: EventArguments) throws {
        try Namespace.checkEventName(event)
        let resolved = arguments.attachments.isEmpty ? arguments : ((try? arguments.resolvingAttachments()) ?? EventArguments())
        let bytes = EnvelopeCodec.encode(.event(name: event, data: resolved.data, id: nil))
        let envelope = EncodedEnvelope(unchecked: bytes, spreadsArguments: resolved.count > 1)
        // As any emit: with a cluster recovery store, through the cluster's ordered log.
        apply(.emit(envelope))
    }
}

extension Namespace {
    /// Emits `event` with several arguments to every socket of the namespace (see
    /// ``BroadcastOperator/emit(_:_:)-(String,EventArguments)``).
    /// - Throws: ``ParleyError/reservedEvent(_:)``.
    public func emit(_ event: String, _ arguments: EventArguments) throws { try all.emit(event, arguments) }
}

extension Server {
    /// Emits `event` with several arguments to every socket of the main namespace (see
    /// ``BroadcastOperator/emit(_:_:)-(String,EventArguments)``).
    /// - Throws: ``ParleyError/reservedEvent(_:)``.
    public func emit(_ event: String, _ arguments: EventArguments) throws { try main.emit(event, arguments) }
}
