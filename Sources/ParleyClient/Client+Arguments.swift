import ParleyProtocol

// Events with several arguments, as Socket.IO servers send and take them (Protocol.md 12.2).
// On the envelope, several arguments travel as one array `data`.
extension Client {
    // MARK: Handlers

    /// Handles `event` with its arguments as sent: a Socket.IO server's argument list, or an
    /// envelope's `data` as one argument (none when absent).
    ///
    /// ```swift
    /// client.on("move") { (arguments: EventArguments) in
    ///     let x: Int = try arguments.decode(0), y: Int = try arguments.decode(1)
    /// }
    /// ```
    /// - Returns: an id for `off`.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (EventArguments) throws -> Void) -> Int {
        register(event, .data(RawJSON.self, ack: false, event: event), once: false,
                 application: withArguments(event) { arguments, _ in try handler(arguments) },
                 connection: connection { (payload: RawJSON) in try handler(EventArguments(data: payload)) })
    }

    /// Handles `event` with its arguments as sent, and answers the server's acknowledgement.
    ///
    /// ```swift
    /// client.on("sum") { (arguments: EventArguments, ack: Client.Ack) in
    ///     ack((0..<arguments.count).reduce(0) { $0 + ((try? arguments.decode($1, as: Int.self)) ?? 0) })
    /// }
    /// ```
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (EventArguments, Ack) throws -> Void) -> Int {
        register(event, .data(RawJSON.self, ack: true, event: event), once: false, application: withArguments(event, handler), connection: nil)
    }

    /// Handles `event` with two arguments, decoded as `A` and `B`: a Socket.IO server's first
    /// two, or the two elements of an envelope's array `data`. Arguments that do not decode
    /// never reach the handler (an acknowledgement asked for gets an error answer).
    ///
    /// ```swift
    /// client.on("move") { (x: Int, y: Int) in print(x, y) }
    /// ```
    @discardableResult
    public func on<A: Decodable & Sendable, B: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (A, B) throws -> Void) -> Int {
        register(event, Self.signature(event, "(\(A.self), \(B.self))"), once: false,
                 application: withArguments(event) { arguments, ack in
                     let a: A, b: B
                     do {
                         a = try arguments.parameter(0, of: 2).decode(A.self)
                         b = try arguments.parameter(1, of: 2).decode(B.self)
                     } catch {
                         return Self.refuseData(event, error, ack)
                     }
                     try handler(a, b)
                 }, connection: nil)
    }

    /// Handles `event` with three arguments, decoded as `A`, `B` and `C` (see the two-argument form).
    @discardableResult
    public func on<A: Decodable & Sendable, B: Decodable & Sendable, C: Decodable & Sendable>(
        _ event: String, _ handler: @escaping @Sendable (A, B, C) throws -> Void
    ) -> Int {
        register(event, Self.signature(event, "(\(A.self), \(B.self), \(C.self))"), once: false,
                 application: withArguments(event) { arguments, ack in
                     let a: A, b: B, c: C
                     do {
                         a = try arguments.parameter(0, of: 3).decode(A.self)
                         b = try arguments.parameter(1, of: 3).decode(B.self)
                         c = try arguments.parameter(2, of: 3).decode(C.self)
                     } catch {
                         return Self.refuseData(event, error, ack)
                     }
                     try handler(a, b, c)
                 }, connection: nil)
    }

    // MARK: Emitting

    /// Sends `event` with several arguments: a Socket.IO server receives them as its argument
    /// list (binary ones as attachments), a Parley server as `data` (none: absent; one: the
    /// value; several: an array). Buffered while disconnected, as every emit.
    ///
    /// ```swift
    /// try client.emit("move", EventArguments([RawJSON(json: "3"), RawJSON(json: "4")]))
    /// ```
    /// - Throws: ``ClientError/reservedEvent(_:)``.
    @discardableResult
    public func emit(_ event: String, _ arguments: EventArguments) throws -> EmitResult {
        try Self.checkEventName(event)
        return send(event, arguments, volatile: false)
    }

    /// Sends `event` with several arguments and waits for the acknowledgement. An answer with
    /// several arguments decodes as their array (``EventArguments/data``).
    ///
    /// ```swift
    /// let sum: Int = try await client.emitWithAck("add", EventArguments([RawJSON(json: "2"), RawJSON(json: "3")]))
    /// ```
    /// - Throws: what the `Encodable` form of `emitWithAck` throws.
    public func emitWithAck<R: Decodable & Sendable>(_ event: String, _ arguments: EventArguments, timeout: Duration? = nil,
                                                    as type: R.Type = R.self) async throws -> R {
        try Self.checkEventName(event)
        let answer = try await request(event, arguments, timeout: timeout ?? options.ackTimeout)
        return try (answer ?? .null).decode(R.self)
    }

    // MARK: Internals

    /// The signature of a handler of several parameters: for a connection event name, one that
    /// cannot take its payload (registration names the call to write instead).
    private static func signature(_ event: String, _ types: String) -> HandlerSignature {
        HandlerSignature(dataType: types, takesPayload: connectionKind(named: event) == nil ? nil : false, takesAck: false)
    }

    /// A handler of application events taking the event's arguments.
    private func withArguments(_ event: String, _ handler: @escaping @Sendable (EventArguments, Ack) throws -> Void) -> Call {
        { [weak self] delivered in
            guard case .event(_, let data, let ack) = delivered else { return }
            do { try handler(ack.arguments ?? EventArguments(data: data), ack) } catch { self?.report(error, from: event, ack: ack) }
        }
    }

    /// Arguments that do not decode: the handler is not called, and an acknowledgement asked
    /// for fails, as for one argument.
    private static func refuseData(_ event: String, _ error: any Error, _ ack: Ack) {
        if ack.isRequested { ack.fail("invalid data for '\(event)': \(RawJSON.describe(decodingError: error))") }
    }
}

extension Client.VolatileEmitter {
    /// Sends `event` with several arguments if connected; otherwise drops it.
    /// - Throws: ``ClientError/reservedEvent(_:)``.
    @discardableResult
    public func emit(_ event: String, _ arguments: EventArguments) throws -> Client.EmitResult {
        try Client.checkEventName(event)
        return client.send(event, arguments, volatile: true)
    }
}
