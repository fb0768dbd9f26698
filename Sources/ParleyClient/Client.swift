import ParleyProtocol
import ParleyWebSocket
import Synchronization

/// A Parley client: one connection to a namespace of a Parley server, with Socket.IO's
/// semantics — automatic reconnection with backoff, an offline buffer, acknowledgements both
/// ways, and typed events.
///
/// ```swift
/// var options = Client.Options()
/// options.query = ["token": "secret"]
/// options.autoConnect = false
/// let client = Client(url: "ws://localhost:8887/parley", options: options)
/// client.on(.connect) { print("connected") }
/// client.on(.connectError) { error in print("refused:", error.message) }
/// client.on("chat") { (message: ChatMessage) in print(message.text) }
/// client.connect()
/// try client.emit("chat", ChatMessage(text: "hi"))
/// let reply: String = try await client.emitWithAck("whoami", timeout: .seconds(5))
/// ```
///
/// **Threads.** Every method may be called from any thread or task. Handlers run one at a
/// time, in the order things happened (messages in arrival order), on an event loop thread:
/// the connection's, or the client's for its timers. The one exception is the `disconnect`
/// that ``disconnect()`` causes: like Socket.IO, it is reported on the calling thread before
/// `disconnect()` returns (unless a loop thread is handing out events at that moment, which then
/// reports it). Handlers must not block: a blocked handler holds up the events after it, and
/// the connection's other work.
///
/// **Lifetime.** While active (connected, connecting, or waiting to reconnect) a client keeps
/// itself alive, like a Socket.IO socket: a client created and forgotten still reconnects.
/// After ``disconnect()`` (or a refusal, an `io server disconnect`, `reconnect_failed`) it is
/// freed as soon as the application releases it. Handlers that capture the client should do
/// so weakly (`[weak client]`), or the client keeps itself alive through them.
public final class Client: Sendable {
    /// The server URL as given, `ws://host[:port]/path[?query]` or `wss://...`.
    public let url: String
    /// The options the client was created with.
    public let options: Options

    /// Acknowledgements awaited at once, at most; more fail with ``ClientError/tooManyPendingAcks(limit:)``.
    /// 1,024, as the server: far beyond any interactive use, and a bound on memory.
    public static let maxPendingAcks = 1024
    /// Events waiting in each ``events`` sequence for their consumer; later ones are dropped
    /// (and their acknowledgements, if asked for, fail). 1,024, as the server's socket events.
    public static let maxQueuedEvents = 1024

    typealias Machine = ConnectionMachine<SystemRandomNumberGenerator>
    typealias AckWaiter = CheckedContinuation<RawJSON?, any Error>

    /// The loop the client's timers run on.
    let loop: EventLoop
    /// The deduplication key sent with every attempt when ``Options/retries`` is set
    /// (Protocol.md 5.6): one per client, never reused.
    let dedupeKey: String?
    let state: Mutex<State>

    /// Everything mutable, behind one lock: a state change, the sends it causes and the events
    /// it reports happen in one critical section, so they are ordered the same way.
    struct State {
        var machine: Machine
        /// The open (or opening) transport of the current generation.
        var transport: WebSocket?
        var outbox: Outbox<AckWaiter>
        /// The timeouts of awaited acknowledgements, cancelled when the answer comes.
        var ackTimers: [UInt64: Scheduled] = [:]
        var handlers: [Handler] = []
        var nextHandlerID = 0
        var subscribers: [(id: Int, continuation: AsyncStream<ClientEvent>.Continuation)] = []
        /// Events to hand to handlers, in order; `deliveries[deliveryHead...]` are waiting.
        var deliveries: [ClientEvent] = []
        var deliveryHead = 0
        /// A thread is handing out events; others only queue theirs.
        var delivering = false
        /// The client itself while active (see the type's note on lifetime): a deliberate
        /// cycle, broken whenever the client becomes idle.
        var retainer: Client?
        /// The session token of the server's last `connect` (Protocol.md 5.5), sent with
        /// every attempt to recover that session.
        var recoveryToken: String?
        /// The offset of the last event received (or of `connect`), sent with the token.
        var lastOffset: String?
        /// Whether the last `connect` recovered the session.
        var recovered = false
        /// Why the last `connect` did not recover the session the client asked for.
        var recoveryFailure: String?
        /// The per-try timeouts of emits that may be sent again (``Options/retries``).
        var ackTimeouts: [UInt64: Duration] = [:]
        /// The Engine.IO session of the current transport, in the Socket.IO dialect.
        var socketIO = SocketIOSession()
    }

    /// What a state change asks to do once the lock is released.
    struct Effects: Sendable {
        enum Timer: Sendable {
            case machine(Machine.Timer, generation: UInt64)
            case ack(UInt64)
        }

        var resumptions: [(waiter: AckWaiter, result: Result<RawJSON?, any Error>)] = []
        var close: [WebSocket] = []
        var terminate: [WebSocket] = []
        var timers: [(timer: Timer, delay: Duration)] = []
        /// Timeouts no longer needed.
        var cancelled: [Scheduled] = []
        var open: UInt64?
        /// The caller must hand out the queued events.
        var deliver = false
        /// The client's reference to itself, dropped after the lock is released.
        var released: Client?
    }

    /// Creates a client; with ``Options/autoConnect`` (the default) it starts connecting at once.
    /// - Parameters:
    ///   - url: `ws://host[:port]/path[?query]` or `wss://...`, e.g. `wss://chat.example.com/parley`.
    ///   - options: query, namespace, reconnection, timeouts and buffer.
    public init(url: String, options: Options = Options()) {
        self.url = url
        self.options = options
        loop = options.group.next()
        dedupeKey = options.retries > 0 ? Self.randomKey() : nil
        let settings = Machine.Settings(reconnection: options.reconnection, reconnectionAttempts: max(0, options.reconnectionAttempts),
                                        timeout: options.timeout)
        let backoff = Backoff(initial: options.reconnectionDelay, maximum: options.reconnectionDelayMax, jitter: options.randomizationFactor)
        state = Mutex(State(machine: Machine(settings: settings, backoff: backoff, random: SystemRandomNumberGenerator()),
                            outbox: Outbox(limit: options.bufferLimit, byteLimit: options.bufferByteLimit, maxPendingAcks: Self.maxPendingAcks)))
        if options.autoConnect { connect() }
    }

    deinit {
        // Only an idle client is freed: its transport is closed already, and no call is waiting
        // on an acknowledgement (a waiting caller holds the client). Finish anyway.
        let (waiters, subscribers, transport) = state.withLock { state in
            let taken = (state.outbox.takeAll(), state.subscribers.map(\.continuation), state.transport)
            state.subscribers = []
            state.transport = nil
            return taken
        }
        for waiter in waiters { waiter.resume(throwing: ClientError.disconnected) }
        for subscriber in subscribers { subscriber.finish() }
        transport?.close()
    }

    // MARK: State

    /// The socket id the server assigned (22 characters), while connected; nil otherwise.
    public var id: String? { state.withLock { $0.machine.session?.id } }

    /// Whether the server has accepted the client and the connection is up.
    public var isConnected: Bool { state.withLock { $0.machine.isConnected } }

    /// Whether the client is connected or will keep trying (connecting, or waiting to
    /// reconnect). False after ``disconnect()``, a refusal, an `io server disconnect` and
    /// `reconnect_failed`: only ``connect()`` starts again.
    public var isActive: Bool { state.withLock { $0.machine.isActive } }

    /// How often the server pings, as it announced in `connect`; nil while disconnected or when
    /// it does not ping.
    public var pingInterval: Duration? { state.withLock { $0.machine.session?.pingInterval } }

    /// How long the server waits for a pong, as it announced in `connect`; nil while disconnected.
    /// The client counts the server as gone after `pingInterval + pingTimeout` of silence.
    public var pingTimeout: Duration? { state.withLock { $0.machine.session?.pingTimeout } }

    /// Whether the last connection continued the previous session (connection state recovery,
    /// Protocol.md 5.5): same ``id``, rooms and server-side data, and the events missed while
    /// disconnected delivered (in order, once) before live ones. False on a first connection,
    /// when the server has recovery off, or could not recover (see ``recoveryFailure``).
    public var recovered: Bool { state.withLock { $0.recovered } }

    /// Why the server could not recover the session the last connection asked for (its
    /// `reason`, e.g. `session expired`, Protocol.md 5.5); nil when it did, or none was asked for.
    public var recoveryFailure: String? { state.withLock { $0.recoveryFailure } }

    // MARK: Connecting

    /// Connects, when not connected and not already trying. Needed after ``disconnect()``, a
    /// middleware refusal, an `io server disconnect` or `reconnect_failed`, and when
    /// ``Options/autoConnect`` is false.
    public func connect() {
        drive { $0.connect() }
    }

    /// Disconnects and stops reconnecting. If the client was connected, `disconnect`
    /// (`io client disconnect`) is reported, and acknowledgements of sent emits fail with
    /// ``ClientError/disconnected``. Emits made afterwards are buffered for the next ``connect()``.
    public func disconnect() {
        update { state, effects in
            // The server keeps no session after a disconnection on purpose.
            state.recoveryToken = nil
            state.lastOffset = nil
            apply(state.machine.disconnect(), to: &state, &effects)
        }
    }

    // MARK: Glue: lock, effects, transport

    /// Changes the state under the lock, then carries out the effects outside it.
    func update(_ body: (inout State, inout Effects) -> Void) {
        let effects = state.withLock { state -> Effects in
            var effects = Effects()
            body(&state, &effects)
            if state.machine.isActive {
                if state.retainer == nil { state.retainer = self }
            } else if state.retainer != nil {
                effects.released = state.retainer
                state.retainer = nil
            }
            return effects
        }
        perform(effects)
    }

    /// Feeds one input to the connection machine and carries out its actions.
    func drive(_ input: (inout Machine) -> [Machine.Action]) {
        update { state, effects in apply(input(&state.machine), to: &state, &effects) }
    }

    /// Carries out the machine's actions; the transport work that must stay in order with the
    /// state (sends) happens here, under the lock, the rest is left in `effects`.
    func apply(_ actions: [Machine.Action], to state: inout State, _ effects: inout Effects) {
        for action in actions {
            switch action {
            case .open(let generation):
                effects.open = generation
            case .close:
                if let transport = state.transport {
                    leaveNamespace(on: transport, &state)
                    effects.close.append(transport)
                }
                state.transport = nil
            case .terminate:
                if let transport = state.transport { effects.terminate.append(transport) }
                state.transport = nil
            case .flush:
                guard let transport = state.transport else { break }
                for message in state.outbox.takeBuffered() { _ = Self.transmit(Frames(message), on: transport, volatile: false) }
            case .failSentAcks:
                for waiter in state.outbox.takeSentWaiters() {
                    effects.resumptions.append((waiter, .failure(ClientError.disconnected)))
                }
            case .emit(let event):
                enqueue(event, &state, &effects)
            case .schedule(let timer, let delay, let generation):
                effects.timers.append((.machine(timer, generation: generation), delay))
            }
        }
    }

    private func perform(_ effects: consuming Effects) {
        for timer in effects.cancelled { timer.cancel() }
        for (waiter, result) in effects.resumptions { waiter.resume(with: result) }
        for transport in effects.close { transport.close() }
        for transport in effects.terminate { transport.terminate(reason: "ping timeout") }
        for (timer, delay) in effects.timers {
            switch timer {
            case .machine(let timer, let generation):
                loop.execute(after: delay) { [weak self] in self?.timerFired(timer, generation: generation) }
            case .ack(let id):
                let timer = loop.execute(after: delay) { [weak self] in self?.ackTimedOut(id) }
                // The answer may have come already: then the timeout is not needed.
                let waiting = state.withLock { state -> Bool in
                    guard state.outbox.isAwaiting(id) else { return false }
                    state.ackTimers[id] = timer
                    return true
                }
                if !waiting { timer.cancel() }
            }
        }
        if let generation = effects.open { openTransport(generation: generation) }
        if effects.deliver { deliverPending() }
    }

    private func timerFired(_ timer: Machine.Timer, generation: UInt64) {
        let now = ContinuousClock.now
        drive { $0.timerFired(timer, generation: generation, now: now) }
    }

    private func ackTimedOut(_ id: UInt64) {
        update { state, effects in
            state.ackTimers[id] = nil
            let (retrying, message) = state.outbox.retry(id)
            if retrying {
                // Options.retries: the timeout applies to each try.
                if let message, state.machine.isConnected, let transport = state.transport {
                    _ = Self.transmit(Frames(message), on: transport, volatile: false)
                }
                effects.timers.append((.ack(id), state.ackTimeouts[id] ?? options.ackTimeout))
                return
            }
            state.ackTimeouts[id] = nil
            guard let (waiter, event) = state.outbox.expire(id) else { return }
            effects.resumptions.append((waiter, .failure(ClientError.ackTimeout(event: event))))
        }
    }

    /// Opens a WebSocket for `generation`; one task per connection attempt.
    private func openTransport(generation: UInt64) {
        var configuration = WebSocketClient.Configuration()
        configuration.headers = options.headers
        configuration.connectTimeout = options.timeout
        configuration.tls = options.tls
        let (group, hook, auth) = (options.group, options.transportClosedHook, options.auth)
        let (base, query, namespace) = (url, options.query, options.namespace)
        let isSocketIO = options.protocol == .socketIO
        var recovery: [String: String] = [:]
        state.withLock { state in
            // A Socket.IO client asks in its CONNECT's auth instead (Client+SocketIO.swift).
            if !isSocketIO, let token = state.recoveryToken, let offset = state.lastOffset {
                recovery["recoveryToken"] = token
                recovery["recoveryOffset"] = offset
            }
        }
        if let dedupeKey { recovery["dedupeKey"] = dedupeKey }
        Task { [weak self] in
            var query = query
            if let auth {
                do {
                    query.merge(try await auth()) { _, fresh in fresh }
                } catch {
                    let failure = ClientError.auth(String(describing: error))
                    self?.loop.execute { [weak self] in self?.drive { $0.failed(failure, generation: generation) } }
                    return
                }
            }
            query.merge(recovery) { _, protocolValue in protocolValue }
            let url = isSocketIO ? Self.socketIOURL(base, query: query) : Self.connectURL(base, query: query, namespace: namespace)
            do {
                _ = try await WebSocketClient.connect(to: url, configuration: configuration, group: group) { [weak self] socket in
                    guard let self else {
                        socket.onClose { _, _, _ in hook?() }
                        socket.close()
                        return
                    }
                    self.attach(socket, generation: generation)
                }
            } catch {
                let failure: ClientError
                switch error {
                case WebSocketError.connectTimeout: failure = .connectTimeout
                case let error as WebSocketError: failure = .transport(error)
                default: failure = .transport(.closed)
                }
                // Reported from the client's loop, where its handlers run, not from this task.
                self?.loop.execute { [weak self] in self?.drive { $0.failed(failure, generation: generation) } }
            }
        }
    }

    /// The transport is open (called on its loop before any frame is read): wire it up, or
    /// close it if the client moved on meanwhile.
    private func attach(_ socket: WebSocket, generation: UInt64) {
        let hook = options.transportClosedHook
        let current = state.withLock { state -> Bool in
            guard state.machine.generation == generation, case .connecting = state.machine.phase else { return false }
            state.transport = socket
            return true
        }
        guard current else {
            socket.onClose { _, _, _ in hook?() }
            socket.close()
            return
        }
        socket.onMessage { [weak self] socket, message in self?.received(message, from: socket, generation: generation) }
        socket.onPing { [weak self] _ in self?.heard(generation: generation) }
        socket.onClose { [weak self] _, code, reason in
            self?.drive { $0.transportClosed(code: code, reason: reason, generation: generation) }
            hook?()
        }
    }

    func heard(generation: UInt64) {
        let now = ContinuousClock.now
        state.withLock { $0.machine.heard(generation: generation, now: now) }
    }

    /// One message from the server (on the transport's loop, in arrival order).
    private func received(_ message: WebSocketMessage, from socket: WebSocket, generation: UInt64) {
        if options.protocol == .socketIO { return receivedSocketIO(message, from: socket, generation: generation) }
        // Protocol.md 5: text frames only; a frame that is not an envelope is ignored.
        var offset: String?
        guard case .text(var text) = message,
              let envelope = try? text.withUTF8({ try EnvelopeCodec.decode(UnsafeRawBufferPointer($0), offset: &offset) }) else {
            heard(generation: generation)
            return
        }
        let now = ContinuousClock.now
        switch envelope {
        case .event("connect", let data, _):
            let session = Self.session(from: data)
            let recovery = Self.recovery(from: data)
            update { state, effects in
                if state.machine.generation == generation, case .connecting = state.machine.phase {
                    state.recoveryToken = recovery.token
                    state.recovered = recovery.recovered
                    state.recoveryFailure = recovery.reason
                    // A recovered session continues from the client's own offset.
                    if !recovery.recovered { state.lastOffset = offset }
                }
                apply(state.machine.accepted(session, generation: generation, now: now), to: &state, &effects)
            }
        case .event("connect_error", let data, _):
            let refusal = Self.refusal(from: data)
            drive { $0.refused(message: refusal.message, data: refusal.data, generation: generation) }
        case .event("disconnect", _, _):
            drive { $0.serverDisconnected(generation: generation) }
        case .event(let name, let data, let id):
            // The hot path: an application event changes no connection state, so it needs none
            // of `update`'s effects; one critical section queues it (in order) and says whether
            // this thread hands out the queue.
            let event = ClientEvent.event(name: name, data: data, ack: Ack(id: id, transport: socket))
            let deliver = state.withLock { state -> Bool in
                state.machine.heard(generation: generation, now: now)
                guard state.machine.generation == generation, state.machine.isConnected else { return false }
                if let offset { state.lastOffset = offset }
                return Self.queue(event, &state)
            }
            if deliver { deliverPending() }
        case .ack(let id, let data):
            answer(id, .success(data), generation: generation, now: now)
        case .ackError(let id, let message):
            answer(id, .failure(ClientError.ackFailed(message: message)), generation: generation, now: now)
        }
    }

    func answer(_ id: UInt64, _ result: Result<RawJSON?, any Error>, generation: UInt64, now: ContinuousClock.Instant) {
        update { state, effects in
            state.machine.heard(generation: generation, now: now)
            // An id not awaited (never asked, expired, already answered) is ignored.
            guard state.machine.generation == generation, let waiter = state.outbox.answer(id) else { return }
            state.ackTimeouts[id] = nil
            if let timer = state.ackTimers.removeValue(forKey: id) { effects.cancelled.append(timer) }
            effects.resumptions.append((waiter, result))
        }
    }

    // MARK: Parsing the server's envelopes

    /// The `data` of `connect` (Protocol.md 5.1); ping values are milliseconds, 0 for none.
    private struct ConnectData: Decodable {
        var id: String?
        var pingInterval: Int64?
        var pingTimeout: Int64?
    }

    static func session(from data: RawJSON?) -> Machine.Session {
        let parsed = try? (data ?? .null).decode(ConnectData.self)
        let interval = parsed?.pingInterval ?? 0
        let timeout = parsed?.pingTimeout ?? 0
        return Machine.Session(id: parsed?.id ?? "", pingInterval: interval > 0 ? .milliseconds(interval) : nil,
                               pingTimeout: timeout > 0 ? .milliseconds(timeout) : nil)
    }

    /// The recovery fields of `connect`'s `data` (Protocol.md 5.5).
    private struct RecoveryData: Decodable {
        var token: String?
        var recovered: Bool?
        var reason: String?
    }

    static func recovery(from data: RawJSON?) -> (token: String?, recovered: Bool, reason: String?) {
        let parsed = try? (data ?? .null).decode(RecoveryData.self)
        return (parsed?.token, parsed?.recovered ?? false, parsed?.reason)
    }

    /// 128 random bits as 32 hexadecimal digits.
    static func randomKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = (generator.next() as UInt64, generator.next() as UInt64)
        let hex = { (part: UInt64) in String(part, radix: 16).leftPadded(to: 16) }
        return hex(value.0) + hex(value.1)
    }

    /// The `data` of `connect_error` (Protocol.md 5.2).
    private struct RefusalData: Decodable {
        var message: String?
        var data: RawJSON?
    }

    static func refusal(from data: RawJSON?) -> (message: String, data: RawJSON?) {
        let parsed = try? (data ?? .null).decode(RefusalData.self)
        return (parsed?.message ?? "refused", parsed?.data)
    }

    // MARK: The URL

    /// `url` plus the query parameters and `nsp` (when not `/`), percent-encoded.
    static func connectURL(_ url: String, query: [String: String], namespace: String) -> String {
        var items = query.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if namespace != "/" && query["nsp"] == nil { items.append(("nsp", namespace)) }
        guard !items.isEmpty else { return url }
        let encoded = items.map { percentEncoded($0.0) + "=" + percentEncoded($0.1) }.joined(separator: "&")
        let fragmentStart = url.firstIndex(of: "#") ?? url.endIndex
        let base = url[..<fragmentStart]
        let separator = base.contains("?") ? (base.hasSuffix("?") || base.hasSuffix("&") ? "" : "&") : "?"
        return base + separator + encoded + url[fragmentStart...]
    }

    /// Percent-encodes all but RFC 3986's unreserved characters and `/` (readable namespaces).
    static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
