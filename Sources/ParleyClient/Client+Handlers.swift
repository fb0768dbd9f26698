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
    /// ```swift
    /// client.on("chat") { (message: ChatMessage) in print(message.text) }
    /// ```
    /// - Returns: an id for `off`.
    @discardableResult
    public func on<T: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (T) -> Void) -> Int {
        add(.event(event), once: false, typed(event) { value, _ in handler(value) })
    }

    /// Handles `event`, decoding its data as `T`, and answers the server's acknowledgement.
    ///
    /// ```swift
    /// client.on("add") { (numbers: [Int], ack: Client.Ack) in ack(numbers.reduce(0, +)) }
    /// ```
    @discardableResult
    public func on<T: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (T, Ack) -> Void) -> Int {
        add(.event(event), once: false, typed(event, handler))
    }

    /// Handles `event` with its data as raw JSON, undecoded (absent data is `null`).
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (RawJSON) -> Void) -> Int {
        add(.event(event), once: false, raw { data, _ in handler(data) })
    }

    /// Handles `event` with its data as raw JSON, and answers the server's acknowledgement.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (RawJSON, Ack) -> Void) -> Int {
        add(.event(event), once: false, raw(handler))
    }

    /// Handles `event` without looking at its data.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable () -> Void) -> Int {
        add(.event(event), once: false, raw { _, _ in handler() })
    }

    /// Like `on`, removed after the first event.
    @discardableResult
    public func once<T: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (T) -> Void) -> Int {
        add(.event(event), once: true, typed(event) { value, _ in handler(value) })
    }

    /// Like `on` with raw JSON, removed after the first event.
    @discardableResult
    public func once(_ event: String, _ handler: @escaping @Sendable (RawJSON) -> Void) -> Int {
        add(.event(event), once: true, raw { data, _ in handler(data) })
    }

    /// Removes one handler of `event` (by the id `on` returned), or all of them.
    public func off(_ event: String, _ handlerID: Int? = nil) {
        remove(.event(event), handlerID)
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

    /// Handles a connection event, with its payload typed.
    ///
    /// ```swift
    /// client.on(.connect) { print("connected") }
    /// client.on(.disconnect) { reason in print("disconnected:", reason.rawValue) }
    /// client.on(.connectError) { error in print("refused:", error.message) }
    /// client.on(.reconnectAttempt) { attempt in print("attempt", attempt) }
    /// ```
    /// - Returns: an id for `off`.
    @discardableResult
    public func on<P>(_ event: ClientEvent.Key<P>, _ handler: @escaping @Sendable (P) -> Void) -> Int {
        add(.connection(event.kind), once: false) { delivered in
            if let payload = event.payload(delivered) { handler(payload) }
        }
    }

    /// Like `on` for a connection event, removed after the first one.
    @discardableResult
    public func once<P>(_ event: ClientEvent.Key<P>, _ handler: @escaping @Sendable (P) -> Void) -> Int {
        add(.connection(event.kind), once: true) { delivered in
            if let payload = event.payload(delivered) { handler(payload) }
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

    private func add(_ key: Handler.Key, once: Bool, _ call: @escaping @Sendable (ClientEvent) -> Void) -> Int {
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
    private func typed<T: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (T, Ack) -> Void)
        -> @Sendable (ClientEvent) -> Void {
        { delivered in
            guard case .event(_, let data, let ack) = delivered else { return }
            let value: T
            do {
                value = try (data ?? .null).decode(T.self)
            } catch {
                if ack.isRequested { ack.fail("invalid data for '\(event)': \(RawJSON.describe(decodingError: error))") }
                return
            }
            handler(value, ack)
        }
    }

    /// A handler of application events taking the data as raw JSON.
    private func raw(_ handler: @escaping @Sendable (RawJSON, Ack) -> Void) -> @Sendable (ClientEvent) -> Void {
        { delivered in
            if case .event(_, let data, let ack) = delivered { handler(data ?? .null, ack) }
        }
    }
}
