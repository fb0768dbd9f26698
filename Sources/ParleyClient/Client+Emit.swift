import ParleyProtocol
import ParleyWebSocket
import Synchronization

extension Client {
    /// What became of an emit.
    public enum EmitResult: Sendable, Equatable {
        /// Handed to the open connection.
        case sent
        /// Kept in the offline buffer, to be sent in order once connected.
        case buffered
        /// Buffered, but the buffer was full: this many of the oldest buffered emits were
        /// dropped to make room (their acknowledgements fail with
        /// ``ClientError/droppedFromBuffer(event:)``).
        case bufferedDroppingOldest(Int)
        /// A volatile emit dropped: the client is not connected, or the connection cannot take
        /// more data right now.
        case dropped
    }

    /// Emits that are dropped instead of buffered while disconnected, for data that is stale
    /// by the time a connection is back (cursor positions, typing indicators).
    ///
    /// ```swift
    /// try client.volatile.emit("cursor", Point(x: 3, y: 4))
    /// ```
    public struct VolatileEmitter: Sendable {
        let client: Client

        /// Sends `event` with `data` if connected; otherwise drops it.
        /// - Returns: ``EmitResult/sent`` or ``EmitResult/dropped``.
        /// - Throws: ``ClientError/reservedEvent(_:)``, ``ClientError/encodingFailed(_:)``.
        @discardableResult
        public func emit<T: Encodable>(_ event: String, _ data: T) throws -> EmitResult {
            try Client.checkEventName(event)
            return client.send(event, try Client.arguments(data), volatile: true)
        }

        /// Sends `event` with already-encoded JSON if connected; otherwise drops it.
        /// - Throws: ``ClientError/reservedEvent(_:)``.
        @discardableResult
        public func emit(_ event: String, _ data: RawJSON?) throws -> EmitResult {
            try Client.checkEventName(event)
            return client.send(event, EventArguments(data: data), volatile: true)
        }

        /// Sends `event` without data if connected; otherwise drops it.
        /// - Throws: ``ClientError/reservedEvent(_:)``.
        @discardableResult
        public func emit(_ event: String) throws -> EmitResult {
            try emit(event, nil as RawJSON?)
        }
    }

    /// Emits dropped instead of buffered while disconnected; see ``VolatileEmitter``.
    public var volatile: VolatileEmitter { VolatileEmitter(client: self) }

    // MARK: Emitting

    /// Sends `event` with `data`, encoded as JSON. While disconnected the emit is buffered (see
    /// ``Options/bufferLimit``) and sent, in order, once connected.
    ///
    /// ```swift
    /// try client.emit("chat", ChatMessage(text: "hi"))
    /// ```
    /// - Parameters:
    ///   - event: the event name; not one of the reserved names (Protocol.md section 6).
    ///   - data: any `Encodable` value.
    /// - Returns: whether it was sent, buffered, or buffered at the cost of older emits.
    /// - Throws: ``ClientError/reservedEvent(_:)``, ``ClientError/encodingFailed(_:)``.
    @discardableResult
    public func emit<T: Encodable>(_ event: String, _ data: T) throws -> EmitResult {
        try Self.checkEventName(event)
        return send(event, try Self.arguments(data), volatile: false)
    }

    /// Sends `event` with already-encoded JSON data (nil: no `data` field).
    /// - Throws: ``ClientError/reservedEvent(_:)``.
    @discardableResult
    public func emit(_ event: String, _ data: RawJSON?) throws -> EmitResult {
        try Self.checkEventName(event)
        return send(event, EventArguments(data: data), volatile: false)
    }

    /// Sends `event` without data.
    /// - Throws: ``ClientError/reservedEvent(_:)``.
    @discardableResult
    public func emit(_ event: String) throws -> EmitResult {
        try emit(event, nil as RawJSON?)
    }

    /// Sends `event` with `data` and waits for the server's acknowledgement.
    ///
    /// The timeout runs from the call, buffered or not: an emit still buffered when it expires
    /// is never sent, and an answer that comes after it is ignored.
    ///
    /// ```swift
    /// let sum: Int = try await client.emitWithAck("add", [1, 2], timeout: .seconds(2))
    /// ```
    /// - Parameters:
    ///   - event: the event name; not a reserved one.
    ///   - data: any `Encodable` value.
    ///   - timeout: how long to wait; ``Options/ackTimeout`` when nil.
    ///   - type: the type of the answer's data (`RawJSON` for it undecoded).
    /// - Returns: the answer's data, decoded (absent data decodes as `null`).
    /// - Throws: ``ClientError/ackTimeout(event:)``, ``ClientError/ackFailed(message:)``,
    ///   ``ClientError/disconnected``, ``ClientError/droppedFromBuffer(event:)``,
    ///   ``ClientError/tooManyPendingAcks(limit:)``, ``ClientError/reservedEvent(_:)``,
    ///   ``ClientError/encodingFailed(_:)``, `CancellationError`, or the `DecodingError`.
    public func emitWithAck<T: Encodable, R: Decodable & Sendable>(_ event: String, _ data: T, timeout: Duration? = nil,
                                                                  as type: R.Type = R.self) async throws -> R {
        try Self.checkEventName(event)
        let answer = try await request(event, try Self.arguments(data), timeout: timeout ?? options.ackTimeout)
        return try (answer ?? .null).decode(R.self)
    }

    /// Sends `event` with already-encoded JSON (nil: no `data` field) and waits for the
    /// acknowledgement, as the `Encodable` variant does.
    public func emitWithAck<R: Decodable & Sendable>(_ event: String, _ data: RawJSON?, timeout: Duration? = nil,
                                                    as type: R.Type = R.self) async throws -> R {
        try Self.checkEventName(event)
        let answer = try await request(event, EventArguments(data: data), timeout: timeout ?? options.ackTimeout)
        return try (answer ?? .null).decode(R.self)
    }

    /// Sends `event` without data and waits for the acknowledgement.
    public func emitWithAck<R: Decodable & Sendable>(_ event: String, timeout: Duration? = nil,
                                                    as type: R.Type = R.self) async throws -> R {
        try await emitWithAck(event, nil as RawJSON?, timeout: timeout, as: type)
    }

    // MARK: Internals

    /// The names only the protocol may use (Protocol.md section 6).
    static func checkEventName(_ name: String) throws(ClientError) {
        if ReservedEvents.contains(name) { throw .reservedEvent(name) }
    }

    static func encode<T: Encodable>(_ value: T) throws(ClientError) -> RawJSON {
        do { return try RawJSON(encoding: value) } catch { throw .encodingFailed(String(describing: error)) }
    }

    /// Sends now when connected, else buffers (or drops, when volatile).
    func send(_ event: String, _ arguments: EventArguments, volatile: Bool) -> EmitResult {
        let frames = encodeEvent(event, arguments, id: nil)
        // The hot path, connected: one critical section, no effects (sending changes no
        // connection state). Only buffering takes the full path below.
        if let outcome = state.withLock({ Self.sendNow(frames, volatile: volatile, $0) }) { return outcome }
        var result = EmitResult.buffered
        update { state, effects in
            // Connected (and flushed) in between: send now rather than wait for the next flush.
            if let outcome = Self.sendNow(frames, volatile: volatile, state) {
                result = outcome
            } else {
                result = buffer(Outbox.Message(event: event, ackID: nil, bytes: frames.text, attachments: frames.attachments), &state, &effects)
            }
        }
        return result
    }

    /// Hands an envelope to the open transport (under the lock).
    /// - Returns: the outcome, or nil when the emit must be buffered instead: not connected, or
    ///   the connection is closing and its close not reported yet. A volatile emit is never
    ///   buffered: it is dropped instead.
    private static func sendNow(_ frames: Frames, volatile: Bool, _ state: State) -> EmitResult? {
        guard state.machine.isConnected, let transport = state.transport else { return volatile ? .dropped : nil }
        let outcome = transmit(frames, on: transport, volatile: volatile)
        switch outcome {
        case .enqueued, .scheduled: return .sent
        case .dropped: return .dropped
        case .closed: return volatile ? .dropped : nil
        }
    }

    private func buffer(_ message: Outbox<AckWaiter>.Message, _ state: inout State, _ effects: inout Effects) -> EmitResult {
        let dropped = state.outbox.buffer(message)
        for (old, waiter) in dropped {
            if let waiter { effects.resumptions.append((waiter, .failure(ClientError.droppedFromBuffer(event: old.event)))) }
        }
        return dropped.isEmpty ? .buffered : .bufferedDroppingOldest(dropped.count)
    }

    /// Sends (or buffers) an event with an ack id and waits for the answer, the timeout, or
    /// the task's cancellation.
    func request(_ event: String, _ arguments: EventArguments, timeout: Duration) async throws -> RawJSON? {
        let ticket = AckTicket()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: AckWaiter) in
                update { state, effects in
                    // Checked under the lock that `cancel` takes too: a cancellation either
                    // happened before (seen here) or finds the id registered.
                    guard !Task.isCancelled else {
                        effects.resumptions.append((continuation, .failure(CancellationError())))
                        return
                    }
                    guard let id = state.outbox.expectAck(event: event, waiter: continuation) else {
                        effects.resumptions.append((continuation, .failure(ClientError.tooManyPendingAcks(limit: Self.maxPendingAcks))))
                        return
                    }
                    ticket.id.store(id, ordering: .relaxed)
                    let frames = encodeEvent(event, arguments, id: id)
                    if options.retries > 0 {
                        let message = Outbox<AckWaiter>.Message(event: event, ackID: id, bytes: frames.text, attachments: frames.attachments)
                        state.outbox.keepForRetry(id, message, retries: options.retries)
                        state.ackTimeouts[id] = timeout
                    }
                    if state.machine.isConnected, let transport = state.transport, Self.transmit(frames, on: transport, volatile: false) != .closed {
                        state.outbox.markSent(id)
                    } else {
                        _ = buffer(Outbox.Message(event: event, ackID: id, bytes: frames.text, attachments: frames.attachments), &state, &effects)
                    }
                    effects.timers.append((.ack(id), timeout))
                }
            }
        } onCancel: { [weak self] in
            self?.cancel(ticket)
        }
    }

    private func cancel(_ ticket: AckTicket) {
        update { state, effects in
            let id = ticket.id.load(ordering: .relaxed)
            guard id != 0, let (waiter, _) = state.outbox.expire(id) else { return }
            state.ackTimeouts[id] = nil
            if let timer = state.ackTimers.removeValue(forKey: id) { effects.cancelled.append(timer) }
            effects.resumptions.append((waiter, .failure(CancellationError())))
        }
    }
}

/// The ack id of one `emitWithAck` call, for its cancellation handler; 0 until assigned.
/// Written and read under the client's lock.
final class AckTicket: Sendable {
    let id = Atomic<UInt64>(0)
}
