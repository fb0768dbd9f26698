import ParleyProtocol

extension Client {
    /// One registered handler.
    struct Handler {
        enum Key: Equatable {
            /// An application event by name.
            case event(String)
            /// A connection event.
            case connection(ClientEvent.Kind)
            /// Every application event (`onAny`).
            case any
        }

        let key: Key
        let id: Int
        let once: Bool
        let call: @Sendable (ClientEvent) -> Void
    }

    // MARK: Application events

    /// Handles `event`, decoding its data as `T`. Data that does not decode never reaches the
    /// handler; if the server asked for an acknowledgement, it gets an error answer.
    ///
    /// The handler may throw (`try client.emit(...)` needs no `try?`): what it throws is
    /// logged with the event's name, and an acknowledgement the server asked for fails with
    /// "the client failed to handle 'EVENT'".
    ///
    /// Socket.IO's connection event names reach the connection events, with their Socket.IO
    /// payloads: `on("connect") { }`, `on("disconnect") { (reason: String) in }`,
    /// `on("connect_error") { (message: String) in }` (or a `Decodable` with `message` and
    /// `data`), `on("reconnect_attempt")` and `on("reconnect")` with an `Int`,
    /// `on("reconnect_error") { (message: String) in }`, `on("reconnect_failed") { }`. A name
    /// that never reaches a client (`disconnecting`, `heartbeat`), or a handler that cannot take
    /// the event's payload, is a programming error: registration stops the program with a
    /// message naming the call to write instead, rather than accept a handler that never runs.
    ///
    /// ```swift
    /// client.on("chat") { (message: ChatMessage) in print(message.text) }
    /// client.on("connect") { try client.emit("join", "general") }
    /// ```
    /// - Returns: an id for `off`.
    @discardableResult
    public func on<T: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (T) throws -> Void) -> Int {
        register(event, .data(T.self, ack: false, event: event), once: false,
                 application: typed(event) { value, _ in try handler(value) }, connection: connection(handler))
    }

    /// Handles `event`, decoding its data as `T`, and answers the server's acknowledgement.
    ///
    /// ```swift
    /// client.on("add") { (numbers: [Int], ack: Client.Ack) in ack(numbers.reduce(0, +)) }
    /// ```
    @discardableResult
    public func on<T: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (T, Ack) throws -> Void) -> Int {
        register(event, .data(T.self, ack: true, event: event), once: false, application: typed(event, handler), connection: nil)
    }

    /// Handles `event` with its data as raw JSON, undecoded (absent data is `null`).
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (RawJSON) throws -> Void) -> Int {
        register(event, .data(RawJSON.self, ack: false, event: event), once: false,
                 application: raw(event) { data, _ in try handler(data) }, connection: connection(handler))
    }

    /// Handles `event` with its data as raw JSON, and answers the server's acknowledgement.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (RawJSON, Ack) throws -> Void) -> Int {
        register(event, .data(RawJSON.self, ack: true, event: event), once: false, application: raw(event, handler), connection: nil)
    }

    /// Handles `event` without looking at its data (`on("connect") { ... }` included).
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable () throws -> Void) -> Int {
        register(event, .noData(ack: false), once: false, application: raw(event) { _, _ in try handler() },
                 connection: connection { (_: RawJSON) in try handler() })
    }

    /// Handles `event` without looking at its data, and answers the server's acknowledgement.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (Ack) throws -> Void) -> Int {
        register(event, .noData(ack: true), once: false, application: raw(event) { _, ack in try handler(ack) }, connection: nil)
    }

    /// Like `on`, removed after the first event.
    @discardableResult
    public func once<T: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (T) throws -> Void) -> Int {
        register(event, .data(T.self, ack: false, event: event), once: true,
                 application: typed(event) { value, _ in try handler(value) }, connection: connection(handler))
    }

    /// Like `on` with raw JSON, removed after the first event.
    @discardableResult
    public func once(_ event: String, _ handler: @escaping @Sendable (RawJSON) throws -> Void) -> Int {
        register(event, .data(RawJSON.self, ack: false, event: event), once: true,
                 application: raw(event) { data, _ in try handler(data) }, connection: connection(handler))
    }

    /// Removes one handler of `event` (by the id `on` returned), or all of them.
    public func off(_ event: String, _ handlerID: Int? = nil) {
        remove(Self.connectionKind(named: event).map { .connection($0) } ?? .event(event), handlerID)
    }

    /// Called for every application event, before its own handlers, with the name and the raw
    /// data (nil when absent).
    @discardableResult
    public func onAny(_ handler: @escaping @Sendable (String, RawJSON?) -> Void) -> Int {
        add(.any, once: false) { event in
            if case .event(let name, let data, _) = event { handler(name, data) }
        }
    }

    /// Removes one `onAny` handler (by id), or all of them.
    public func offAny(_ handlerID: Int? = nil) {
        remove(.any, handlerID)
    }

    // MARK: Connection events

    /// Handles a connection event, with its payload typed. What the handler throws is logged.
    ///
    /// ```swift
    /// client.on(.connect) { print("connected") }
    /// client.on(.disconnect) { reason in print("disconnected:", reason.rawValue) }
    /// client.on(.connectError) { error in print("refused:", error.message) }
    /// client.on(.reconnectAttempt) { attempt in print("attempt", attempt) }
    /// ```
    /// - Returns: an id for `off`.
    @discardableResult
    public func on<P>(_ event: ClientEvent.Key<P>, _ handler: @escaping @Sendable (P) throws -> Void) -> Int {
        add(.connection(event.kind), once: false) { [weak self] delivered in
            guard let payload = event.payload(delivered) else { return }
            do { try handler(payload) } catch { self?.report(error, from: delivered.name, ack: nil) }
        }
    }

    /// Like `on` for a connection event, removed after the first one.
    @discardableResult
    public func once<P>(_ event: ClientEvent.Key<P>, _ handler: @escaping @Sendable (P) throws -> Void) -> Int {
        add(.connection(event.kind), once: true) { [weak self] delivered in
            guard let payload = event.payload(delivered) else { return }
            do { try handler(payload) } catch { self?.report(error, from: delivered.name, ack: nil) }
        }
    }

    /// Removes one handler of a connection event (by id), or all of them.
    public func off<P>(_ event: ClientEvent.Key<P>, _ handlerID: Int? = nil) {
        remove(.connection(event.kind), handlerID)
    }

    // MARK: The sequence

    /// Every event from now on, connection events and application events, in order, for
    /// `for await` loops. Each access is a new subscription; any number may run at once. At
    /// most ``maxQueuedEvents`` wait for a slow consumer: later ones are dropped for it (and an
    /// acknowledgement nobody else took fails). The sequence ends when the client is freed, or
    /// when the consuming task is cancelled.
    ///
    /// ```swift
    /// for await event in client.events { print(event) }   // connect, chat({"text":"hi"}), ...
    /// ```
    public var events: AsyncStream<ClientEvent> {
        let (stream, continuation) = AsyncStream<ClientEvent>.makeStream(bufferingPolicy: .bufferingOldest(Self.maxQueuedEvents))
        let id = state.withLock { state in
            state.nextHandlerID += 1
            state.subscribers.append((state.nextHandlerID, continuation))
            return state.nextHandlerID
        }
        continuation.onTermination = { [weak self] _ in self?.removeSubscriber(id) }
        return stream
    }

    // MARK: Delivery

    /// Queues an event for the handlers (under the lock); the caller that finds no delivery
    /// running hands out the queue after the lock is released.
    func enqueue(_ event: ClientEvent, _ state: inout State, _ effects: inout Effects) {
        if Self.queue(event, &state) { effects.deliver = true }
    }

    /// Queues an event (under the lock).
    /// - Returns: true when no delivery is running: the caller must call ``deliverPending()``
    ///   once the lock is released.
    static func queue(_ event: ClientEvent, _ state: inout State) -> Bool {
        state.deliveries.append(event)
        guard !state.delivering else { return false }
        state.delivering = true
        return true
    }

    typealias Call = @Sendable (ClientEvent) -> Void

    /// One event and whom to give it to.
    private struct Delivery {
        var event: ClientEvent
        /// The first handler to call, kept apart so that the common case (one handler) needs
        /// no array.
        var first: Call?
        var more: [Call] = []
        /// A handler of the event's own name or kind (not only `onAny`) was found.
        var handled = false
        var subscribers: [(id: Int, continuation: AsyncStream<ClientEvent>.Continuation)]

        mutating func add(_ call: @escaping Call) {
            if first == nil { first = call } else { more.append(call) }
        }
    }

    /// Hands out queued events one at a time, in order, until the queue is empty. Handlers are
    /// looked up when their event's turn comes, so `off` inside a handler takes effect for the
    /// next event already.
    func deliverPending() {
        while let delivery = state.withLock({ Self.nextDelivery(&$0) }) {
            log(delivery.event)
            if let first = delivery.first { first(delivery.event) }
            for call in delivery.more { call(delivery.event) }
            var taken = false
            var dropped = false
            for subscriber in delivery.subscribers {
                switch subscriber.continuation.yield(delivery.event) {
                case .enqueued: taken = true
                case .dropped: dropped = true
                case .terminated: removeSubscriber(subscriber.id)
                @unknown default: break
                }
            }
            // Nobody could answer: tell the server now rather than let it wait for its timeout.
            if case .event(let name, _, let ack) = delivery.event, ack.isRequested, !delivery.handled, !taken {
                ack.fail(dropped ? "client busy: event '\(name)' dropped" : "no handler for event '\(name)'")
            }
        }
    }

    private static func nextDelivery(_ state: inout State) -> Delivery? {
        guard state.deliveryHead < state.deliveries.count else {
            state.deliveries.removeAll(keepingCapacity: true)
            state.deliveryHead = 0
            state.delivering = false
            return nil
        }
        // Moved out (a payload-free case left behind), not copied: no retain per field.
        var event = ClientEvent.connect
        swap(&event, &state.deliveries[state.deliveryHead])
        state.deliveryHead += 1
        if state.deliveryHead >= 1024 && state.deliveryHead * 2 >= state.deliveries.count {
            state.deliveries.removeFirst(state.deliveryHead)
            state.deliveryHead = 0
        }
        var delivery = Delivery(event: event, subscribers: state.subscribers)
        let own: Handler.Key
        if case .event(let name, _, _) = event {
            own = .event(name)
            for handler in state.handlers where handler.key == .any { delivery.add(handler.call) }
        } else {
            own = .connection(event.kind)
        }
        var hasOnce = false
        for handler in state.handlers where handler.key == own {
            delivery.add(handler.call)
            delivery.handled = true
            hasOnce = hasOnce || handler.once
        }
        if hasOnce { state.handlers.removeAll { $0.key == own && $0.once } }
        return delivery
    }

    // MARK: Registration

    func add(_ key: Handler.Key, once: Bool, _ call: @escaping @Sendable (ClientEvent) -> Void) -> Int {
        state.withLock { state in
            state.nextHandlerID += 1
            state.handlers.append(Handler(key: key, id: state.nextHandlerID, once: once, call: call))
            return state.nextHandlerID
        }
    }

    private func remove(_ key: Handler.Key, _ id: Int?) {
        // Removed closures are released after the lock: one may hold the last reference to
        // something whose deinit calls back into the client.
        let removed = state.withLock { state -> [Handler] in
            let matches = { (handler: Handler) in handler.key == key && (id == nil || handler.id == id) }
            let removed = state.handlers.filter(matches)
            state.handlers.removeAll(where: matches)
            return removed
        }
        _ = removed
    }

    private func removeSubscriber(_ id: Int) {
        _ = state.withLock { state -> AsyncStream<ClientEvent>.Continuation? in
            guard let index = state.subscribers.firstIndex(where: { $0.id == id }) else { return nil }
            return state.subscribers.remove(at: index).continuation
        }
    }

    /// A handler of application events decoding the data as `T`.
    private func typed<T: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (T, Ack) throws -> Void)
        -> @Sendable (ClientEvent) -> Void {
        { [weak self] delivered in
            guard case .event(_, let data, let ack) = delivered else { return }
            let value: T
            do {
                value = try (data ?? .null).decode(T.self)
            } catch {
                if ack.isRequested { ack.fail("invalid data for '\(event)': \(RawJSON.describe(decodingError: error))") }
                return
            }
            do { try handler(value, ack) } catch { self?.report(error, from: event, ack: ack) }
        }
    }

    /// A handler of application events taking the data as raw JSON.
    private func raw(_ event: String, _ handler: @escaping @Sendable (RawJSON, Ack) throws -> Void) -> @Sendable (ClientEvent) -> Void {
        { [weak self] delivered in
            guard case .event(_, let data, let ack) = delivered else { return }
            do { try handler(data ?? .null, ack) } catch { self?.report(error, from: event, ack: ack) }
        }
    }
}
