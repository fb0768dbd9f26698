import ParleyProtocol

// Events with several arguments (Socket.IO clients send them; Protocol.md section 12.2).
extension Socket {
    /// Handles `event` with its arguments as sent: a Socket.IO client's argument list, or an
    /// envelope client's `data` as one argument (none when absent).
    ///
    /// ```swift
    /// socket.on("move") { (arguments: EventArguments) in
    ///     guard let x: Int = try? arguments.decode(0), let y: Int = try? arguments.decode(1) else { return }
    /// }
    /// ```
    /// - Returns: an id for ``off(_:_:)``.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (EventArguments) throws -> Void) -> Int {
        register(event, .data(RawJSON.self, ack: false), once: false, .argumentsOnly(handler))
    }

    /// Handles `event` with its arguments as sent, answering its acknowledgement.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (EventArguments, Ack) throws -> Void) -> Int {
        register(event, .data(RawJSON.self, ack: true), once: false, handler)
    }

    /// Handles `event` with two arguments, decoded as `A` and `B`: a Socket.IO client's first
    /// two, or the two elements of an envelope client's array `data`. Arguments that do not
    /// decode never reach the handler (the client gets an error, as for one argument).
    ///
    /// ```swift
    /// socket.on("move") { (x: Int, y: Int) in print(x, y) }
    /// ```
    @discardableResult
    public func on<A: Decodable & Sendable, B: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (A, B) throws -> Void) -> Int {
        register(event, .data(RawJSON.self, ack: false), once: false) { [unowned self] arguments, ack in
            let a: A, b: B
            do {
                a = try arguments.parameter(0, of: 2).decode(A.self)
                b = try arguments.parameter(1, of: 2).decode(B.self)
            } catch {
                return refuseData(event, error, ack)
            }
            try handler(a, b)
        }
    }

    /// Handles `event` with three arguments, decoded as `A`, `B` and `C` (see the two-argument form).
    @discardableResult
    public func on<A: Decodable & Sendable, B: Decodable & Sendable, C: Decodable & Sendable>(
        _ event: String, _ handler: @escaping @Sendable (A, B, C) throws -> Void
    ) -> Int {
        register(event, .data(RawJSON.self, ack: false), once: false) { [unowned self] arguments, ack in
            let a: A, b: B, c: C
            do {
                a = try arguments.parameter(0, of: 3).decode(A.self)
                b = try arguments.parameter(1, of: 3).decode(B.self)
                c = try arguments.parameter(2, of: 3).decode(C.self)
            } catch {
                return refuseData(event, error, ack)
            }
            try handler(a, b, c)
        }
    }

    /// Sends `event` with several arguments: a Socket.IO client receives them as its argument
    /// list, an envelope client as `data` (none: absent; one: the value; several: an array).
    /// With connection state recovery it is kept for a recovering client like any emit, unless
    /// it carries binary attachments.
    ///
    /// ```swift
    /// try socket.emit("move", EventArguments([RawJSON(json: "3"), RawJSON(json: "4")]))
    /// ```
    /// - Throws: ``ParleyError/reservedEvent(_:)``.
    public func emit(_ event: String, _ arguments: EventArguments) throws {
        try Namespace.checkEventName(event)
        // With recovery, kept and numbered as an emit of one value is; binary attachments go
        // as they are, live only.
        if let recovery = namespace.recovery, arguments.attachments.isEmpty {
            let envelope = EnvelopeCodec.encode(.event(name: event, data: arguments.data, id: nil))
            return recovery.emitDirect(envelope, to: id, rooms: namespace.roomStore, spreadsArguments: arguments.count > 1)
        }
        switch link {
        case .socketIO(let connection):
            connection.send(.event(namespace: namespace.name, name: event, arguments: arguments, id: nil))
        case .envelope:
            let resolved = (try? arguments.resolvingAttachments()) ?? EventArguments()
            send(.event(name: event, data: resolved.data, id: nil))
        }
    }
}
