import Foundation
import ParleyProtocol
import ParleyWebSocket
import Synchronization

/// One client connected to a namespace.
///
/// Handlers run on the connection's event loop thread, one event at a time, in the order the
/// client sent them. `emit` may be called from any thread; emits to one socket from one thread
/// arrive in the order emitted.
///
/// ```swift
/// io.onConnection { socket in
///     socket.on("chat") { (message: ChatMessage) in try socket.broadcast.emit("chat", message) }
///     socket.on("join") { (room: String) in try socket.join(room) }
///     socket.on("whoami") { (ack: Ack) in ack(socket.id) }
///     socket.on("disconnect") { (reason: String) in print(socket.id, "left:", reason) }
/// }
/// ```
public final class Socket: Sendable, Hashable {
    /// Unique, unguessable id (128 random bits, base64url); also the name of a room holding only this socket.
    public let id: String
    /// What the client presented when it connected.
    public let handshake: Handshake
    /// The namespace this socket belongs to.
    public let namespace: Namespace
    /// How the client is connected: its dialect and transport.
    let link: Link
    /// The WebSocket of an envelope client; nil for a Socket.IO client.
    var envelopeConnection: WebSocket? {
        if case .envelope(let connection) = link { return connection }
        return nil
    }
    /// Session token and claim, when the server has connection state recovery.
    let recovery: SocketRecovery?

    /// How a socket reaches its client.
    enum Link: Sendable {
        /// A WebSocket speaking Parley's envelope.
        case envelope(WebSocket)
        /// An Engine.IO connection speaking Socket.IO, shared by the namespaces it joined.
        case socketIO(SocketIOConnection)
    }

    typealias Handler = @Sendable (EventArguments, Ack) throws -> Void

    /// An `on` handler as it was given, called with the event's arguments: the closure the
    /// application wrote is stored itself (no wrapping closure, an allocation per handler and
    /// socket), and a typed one in a ``DecodingCallback`` holding nothing but it.
    enum Callback: Sendable {
        /// Decodes the data and calls the handler.
        case decoding(any DecodingCallback)
        case raw(@Sendable (RawJSON) throws -> Void)
        case rawAck(@Sendable (RawJSON, Ack) throws -> Void)
        case plain(@Sendable () throws -> Void)
        case plainAck(@Sendable (Ack) throws -> Void)
        /// `on(event) { (arguments: EventArguments) in ... }`.
        case argumentsOnly(@Sendable (EventArguments) throws -> Void)
        /// The arguments as they are, with the acknowledgement (and internal handlers: the
        /// Socket.IO glue).
        case arguments(Handler)

        func call(_ arguments: EventArguments, _ ack: Ack, socket: Socket, event: String) throws {
            switch self {
            case .decoding(let handler): try handler.call(arguments, ack, socket: socket, event: event)
            case .raw(let handler): try handler(arguments.data ?? .null)
            case .rawAck(let handler): try handler(arguments.data ?? .null, ack)
            case .plain(let handler): try handler()
            case .plainAck(let handler): try handler(ack)
            case .argumentsOnly(let handler): try handler(arguments)
            case .arguments(let handler): try handler(arguments, ack)
            }
        }
    }

    /// A typed handler: decodes the data as its type first (data that does not decode never
    /// reaches it; the client is answered by ``refuseData(_:_:_:)``). An object holding only the
    /// application's closure: 32 bytes per handler and socket, where a closure capturing it
    /// with its type would take 48.
    protocol DecodingCallback: AnyObject, Sendable {
        func call(_ arguments: EventArguments, _ ack: Ack, socket: Socket, event: String) throws
    }

    /// `arguments`' data as `T`, or nil once the client has been answered that it does not
    /// decode (``refuseData(_:_:_:)``).
    private static func decoded<T: Decodable>(_ arguments: EventArguments, _ ack: Ack, socket: Socket, event: String) -> T? {
        do {
            return try (arguments.data ?? .null).decode(T.self)
        } catch {
            socket.refuseData(event, error, ack)
            return nil
        }
    }

    /// A handler of `(T)`.
    private final class Decoding<T: Decodable & Sendable>: DecodingCallback {
        let handler: @Sendable (T) throws -> Void

        init(_ handler: @escaping @Sendable (T) throws -> Void) {
            self.handler = handler
        }

        func call(_ arguments: EventArguments, _ ack: Ack, socket: Socket, event: String) throws {
            guard let value: T = Socket.decoded(arguments, ack, socket: socket, event: event) else { return }
            try handler(value)
        }
    }

    /// A handler of `(T, Ack)`.
    private final class DecodingWithAck<T: Decodable & Sendable>: DecodingCallback {
        let handler: @Sendable (T, Ack) throws -> Void

        init(_ handler: @escaping @Sendable (T, Ack) throws -> Void) {
            self.handler = handler
        }

        func call(_ arguments: EventArguments, _ ack: Ack, socket: Socket, event: String) throws {
            guard let value: T = Socket.decoded(arguments, ack, socket: socket, event: event) else { return }
            try handler(value, ack)
        }
    }

    typealias LifecycleHandler = @Sendable (DisconnectReason) throws -> Void

    /// What a client sent before middleware accepted it.
    enum Inbound: Sendable {
        case envelope(WebSocketMessage)
        case socketIO(SocketIOPacket)
    }

    private enum Phase {
        /// Middleware is running; messages wait in `early`.
        case pending
        case connected
        case disconnected
    }

    /// The one-byte fields last: no padding between the others.
    private struct State {
        var early: [Inbound] = []
        /// A flat list: a socket has a handful of handlers, so a linear scan of string compares
        /// beats hashing; the names are shared with the namespace's other sockets.
        var handlers: SocketHandlers
        /// `onDisconnecting` and `onDisconnect` handlers in one list (`disconnect` tells which).
        var lifecycleHandlers: [(id: Int, disconnect: Bool, handler: LifecycleHandler)] = []
        /// What only some sockets use, made on first use (see ``Extras``).
        var extras: Extras?
        var phase = Phase.pending
        var reason: DisconnectReason?
        /// The last handler id given, in 32 bits (with the one-byte fields: no padding).
        var lastHandlerID: Int32 = 0

        /// ``extras``, made if it was not.
        mutating func madeExtras() -> Extras {
            if let extras { return extras }
            let made = Extras()
            extras = made
            return made
        }

        var nextHandlerID: Int {
            get { Int(lastHandlerID) }
            set { lastHandlerID = Int32(truncatingIfNeeded: newValue) }
        }

        var disconnectingHandlers: [(id: Int, handler: LifecycleHandler)] {
            get { lifecycleHandlers.filter { !$0.disconnect }.map { ($0.id, $0.handler) } }
            set { lifecycleHandlers = lifecycleHandlers.filter(\.disconnect) + newValue.map { ($0.id, false, $0.handler) } }
        }

        var disconnectHandlers: [(id: Int, handler: LifecycleHandler)] {
            get { lifecycleHandlers.filter(\.disconnect).map { ($0.id, $0.handler) } }
            set { lifecycleHandlers = lifecycleHandlers.filter { !$0.disconnect } + newValue.map { ($0.id, true, $0.handler) } }
        }

    }

    /// `onAny` handlers, ``events`` and the acknowledgements the server awaits: most sockets use
    /// none of them, and keep 8 bytes for all (a reference, nil) rather than 32. Read and
    /// written under the state lock only.
    private final class Extras {
        var anyHandlers: [(id: Int, handler: @Sendable (String, RawJSON?) -> Void)] = []
        var nextAckID: UInt64 = 0
        /// Acknowledgements awaited, with their timeout (cancelled when the answer comes).
        var pendingAcks: [UInt64: (event: String, continuation: CheckedContinuation<RawJSON?, any Error>, timer: Scheduled?)] = [:]
        /// The stream ``Socket/events`` returns, made on first use.
        var events: EventStream?
        /// Whether events go to `events` (until its consumer stops or the socket ends).
        var sinkOpen = false

        /// Where events go: `events` until its consumer stops or the socket ends (a flag
        /// rather than a second reference).
        var eventsSink: EventStream? {
            get { sinkOpen ? events : nil }
            set {
                sinkOpen = newValue != nil
                if let newValue { events = newValue }
            }
        }
    }

    /// One `on` registration. A struct rather than a tuple: the closure is stored as it is
    /// called, so taking it out of the array makes no reabstraction thunk (an allocation).
    /// The handlers an event matched, taken under the lock: usually one, kept without an array.
    private enum MatchedHandlers {
        case none
        case one(Callback)
        case several([Callback])
    }

    /// The stream of ``events`` with its continuation, in a class: `State` then has a fixed
    /// layout, and taking the sink per event is a retain. (Both types are resilient: held
    /// inline, every copy, even of nil, goes through runtime value witnesses.)
    private final class EventStream: Sendable {
        let stream: AsyncStream<SocketEvent>
        let continuation: AsyncStream<SocketEvent>.Continuation

        init() {
            (stream, continuation) = AsyncStream<SocketEvent>.makeStream(bufferingPolicy: .bufferingOldest(Socket.maxQueuedEvents))
        }
    }

    private let state: Mutex<State>
    /// `state.phase == .connected`, written under the lock with it and read without: a
    /// connected socket's events are handed on without taking the lock for their admission.
    private let isConnected = Atomic<Bool>(false)

    /// Messages a client may send before middleware has accepted it; more close the
    /// connection (1008). 64: a client that waits for `connect` sends none.
    static let maxEarlyMessages = 64
    /// Events waiting in ``events`` for their consumer; more are refused with an error.
    static let maxQueuedEvents = 1024
    /// Acknowledgements this server may wait for on one socket at once.
    static let maxPendingAcks = 1024

    /// Bounds on the rooms this socket joins, kept in 32 bits each (8 bytes per socket;
    /// larger configured values are clamped, far beyond any useful bound).
    struct RoomLimits: Sendable {
        private var nameBytes: Int32 = 256
        private var rooms: Int32 = 1_000

        /// ``Server/Configuration/maxRoomNameBytes``.
        var maxNameBytes: Int {
            get { Int(nameBytes) }
            set { nameBytes = Int32(clamping: newValue) }
        }
        /// ``Server/Configuration/maxRoomsPerSocket``.
        var maxRooms: Int {
            get { Int(rooms) }
            set { rooms = Int32(clamping: newValue) }
        }

        init() {}

        init(maxNameBytes: Int, maxRooms: Int) {
            self.maxNameBytes = maxNameBytes
            self.maxRooms = maxRooms
        }
    }

    let roomLimits: RoomLimits

    init(link: Link, handshake: Handshake, namespace: Namespace, roomLimits: RoomLimits = RoomLimits(), recovery: SocketRecovery? = nil) {
        self.link = link
        self.handshake = handshake
        self.namespace = namespace
        self.roomLimits = roomLimits
        self.recovery = recovery
        id = recovery?.restoredID ?? RandomID().description
        state = Mutex(State(handlers: SocketHandlers(root: namespace.handlerLayouts)))
    }

    /// Application data for this socket; middleware may have set it (`handshake.data`).
    public var data: SocketData { handshake.data }

    /// The event loop the socket's handlers run on.
    var loop: EventLoop {
        switch link {
        case .envelope(let connection): return connection.loop
        case .socketIO(let connection): return connection.loop
        }
    }

    /// Whether the socket is connected (accepted by middleware and not yet gone).
    public var connected: Bool { isConnected.load(ordering: .acquiring) }

    public static func == (lhs: Socket, rhs: Socket) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    // MARK: Handlers

    /// Handles `event`, decoding its data as `T` (use ``RawJSON`` to get it undecoded).
    /// Data that does not decode never reaches the handler: the client gets an error ack (or an
    /// `error` event when it asked for none).
    ///
    /// The handler may throw (`try socket.broadcast.emit(...)` needs no `try?`): what it throws
    /// is logged with the socket id and the event, and an acknowledgement the client asked for
    /// fails with "the server failed to handle 'EVENT'" (the error itself stays on the server).
    ///
    /// Socket.IO's reserved names reach the lifecycle: `on("disconnecting")` and
    /// `on("disconnect")` get the reason string (`"transport close"`, ...), as
    /// ``onDisconnecting(_:)`` and ``onDisconnect(_:)`` do. Names that never reach a server
    /// socket (`connect`, `connect_error`, `error`, `heartbeat`), or a handler that cannot take
    /// the reason, are programming errors: registration stops the program with a message naming
    /// the call to write instead, rather than accept a handler that would never run.
    ///
    /// ```swift
    /// socket.on("chat") { (message: ChatMessage) in try socket.broadcast.emit("chat", message) }
    /// socket.on("disconnect") { (reason: String) in print(socket.id, "left:", reason) }
    /// ```
    /// - Returns: an id for ``off(_:_:)``.
    @discardableResult
    public func on<T: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (T) throws -> Void) -> Int {
        register(event, .data(T.self, ack: false), once: false, Self.typed(handler))
    }

    /// Handles `event` and answers its acknowledgement.
    @discardableResult
    public func on<T: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (T, Ack) throws -> Void) -> Int {
        register(event, .data(T.self, ack: true), once: false, Self.typed(handler))
    }

    /// Handles `event` with its data as raw JSON (absent data is `null`), undecoded.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (RawJSON) throws -> Void) -> Int {
        register(event, .data(RawJSON.self, ack: false), once: false, .raw(handler))
    }

    /// Handles `event` with its data as raw JSON, answering its acknowledgement.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (RawJSON, Ack) throws -> Void) -> Int {
        register(event, .data(RawJSON.self, ack: true), once: false, .rawAck(handler))
    }

    /// Handles `event` without looking at its data.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable () throws -> Void) -> Int {
        register(event, .noData(ack: false), once: false, .plain(handler))
    }

    /// Handles `event` without looking at its data, answering its acknowledgement.
    @discardableResult
    public func on(_ event: String, _ handler: @escaping @Sendable (Ack) throws -> Void) -> Int {
        register(event, .noData(ack: true), once: false, .plainAck(handler))
    }

    /// Like ``on(_:_:)-(String,(T)->Void)``, removed after the first event.
    @discardableResult
    public func once<T: Decodable & Sendable>(_ event: String, _ handler: @escaping @Sendable (T) throws -> Void) -> Int {
        register(event, .data(T.self, ack: false), once: true, Self.typed(handler))
    }

    /// Removes one handler (by the id `on` returned), or every handler of `event`.
    public func off(_ event: String, _ handlerID: Int? = nil) {
        state.withLock { state in
            switch event {
            case "disconnecting": state.disconnectingHandlers.removeAll { handlerID == nil || $0.id == handlerID }
            case "disconnect": state.disconnectHandlers.removeAll { handlerID == nil || $0.id == handlerID }
            default:
                let id = handlerID.map { Int32(truncatingIfNeeded: $0) }
                state.handlers.removeAll { $0.event == event && (id == nil || $0.id == id) }
            }
        }
    }

    /// Called for every event, before its own handlers, with the name and raw data.
    @discardableResult
    public func onAny(_ handler: @escaping @Sendable (String, RawJSON?) -> Void) -> Int {
        state.withLock { state in
            state.nextHandlerID += 1
            state.madeExtras().anyHandlers.append((state.nextHandlerID, handler))
            return state.nextHandlerID
        }
    }

    /// Called when the socket is about to leave: its rooms are still set. Socket.IO's
    /// `on("disconnecting")`, with the reason typed. What the handler throws is logged.
    /// - Returns: an id for `off("disconnecting", id)`.
    @discardableResult
    public func onDisconnecting(_ handler: @escaping @Sendable (DisconnectReason) throws -> Void) -> Int {
        state.withLock { state in
            state.nextHandlerID += 1
            state.disconnectingHandlers.append((state.nextHandlerID, handler))
            return state.nextHandlerID
        }
    }

    /// Called once the socket has disconnected, with the reason. Socket.IO's
    /// `on("disconnect")`, with the reason typed. What the handler throws is logged.
    /// - Returns: an id for `off("disconnect", id)`.
    @discardableResult
    public func onDisconnect(_ handler: @escaping @Sendable (DisconnectReason) throws -> Void) -> Int {
        state.withLock { state in
            state.nextHandlerID += 1
            state.disconnectHandlers.append((state.nextHandlerID, handler))
            return state.nextHandlerID
        }
    }

    /// Every event, in arrival order, for `for await` loops: an alternative to `on` that runs
    /// async code per event without a `Task` per message. One consumer; at most
    /// ``maxQueuedEvents`` wait (beyond, the client gets an error). Finishes on disconnect.
    public var events: AsyncStream<SocketEvent> {
        state.withLock { state in
            let extras = state.madeExtras()
            if let events = extras.events { return events.stream }
            let events = EventStream()
            if state.phase == .disconnected { events.continuation.finish() }
            extras.events = events
            extras.eventsSink = events
            return events.stream
        }
    }

    func addHandler(_ event: String, once: Bool, _ handler: Callback) -> Int {
        state.withLock { state in
            state.nextHandlerID += 1
            state.handlers.append(HandlerLayout.Entry(event: event, id: Int32(truncatingIfNeeded: state.nextHandlerID), once: once), handler)
            return state.nextHandlerID
        }
    }

    /// A typed handler: decodes the data as `T` first (refused data never reaches it).
    private static func typed<T: Decodable & Sendable>(_ handler: @escaping @Sendable (T, Ack) throws -> Void) -> Callback {
        .decoding(DecodingWithAck(handler))
    }

    /// A typed handler without an acknowledgement.
    private static func typed<T: Decodable & Sendable>(_ handler: @escaping @Sendable (T) throws -> Void) -> Callback {
        .decoding(Decoding(handler))
    }

    /// Gives back the spare capacity of the handler list once the connection handlers have
    /// registered theirs: sockets of a namespace usually keep the same handlers for life.
    private func compactHandlers() {
        state.withLock { state in
            state.handlers.compact()
        }
    }

    /// Data a typed handler could not decode: an error ack, or an`error` event.
    func refuseData(_ event: String, _ error: any Error, _ ack: Ack) {
        let message = "invalid data for '\(event)': \(RawJSON.describe(decodingError: error))"
        namespace.log("parley: socket \(id): \(message)")
        if ack.isRequested { ack.fail(message) } else { sendError(message) }
    }

    // MARK: Emitting

    /// Sends `event` with `data` to this client.
    ///
    /// Throws only for what the caller can fix: a reserved name, or data that does not encode
    /// (a `Double.nan`, an `encode(to:)` that throws). Delivery never throws: an emit to a
    /// socket that has gone is dropped, as in Socket.IO. In a handler, write `try`: the handler
    /// may throw, and what it throws is logged.
    ///
    /// ```swift
    /// socket.on("hello") { (name: String) in try socket.emit("greeting", "hi \(name)") }
    /// ```
    /// - Throws: ``ParleyError/reservedEvent(_:)``, ``ParleyError/encodingFailed(_:)``.
    public func emit<T: Encodable>(_ event: String, _ data: T) throws {
        // `Data` goes to a Socket.IO client as a binary attachment (to an envelope client as base64).
        if let bytes = data as? Data, case .socketIO = link {
            return try emit(event, EventArguments(binary: [UInt8](bytes)))
        }
        try emit(event, RawJSON.encoded(data))
    }

    /// Sends `event` with already-encoded JSON data.
    public func emit(_ event: String, _ data: RawJSON?) throws {
        try Namespace.checkEventName(event)
        // With recovery, kept and numbered like a broadcast to the room named by the id.
        if let recovery = namespace.recovery {
            return recovery.emitDirect(EnvelopeCodec.encode(.event(name: event, data: data, id: nil)), to: id, rooms: namespace.roomStore)
        }
        send(.event(name: event, data: data, id: nil))
    }

    /// Sends `event` without data.
    public func emit(_ event: String) throws {
        try emit(event, nil as RawJSON?)
    }

    /// Sends `event` and waits for the client's acknowledgement.
    /// - Parameters:
    ///   - timeout: how long to wait; 5 s by default, like a patient human.
    /// - Returns: the ack's data, decoded as `R`.
    /// - Throws: ``ParleyError/ackTimeout(event:)``, ``ParleyError/ackFailed(message:)``,
    ///   ``ParleyError/disconnected``, or the decoding error.
    public func emitWithAck<T: Encodable, R: Decodable & Sendable>(_ event: String, _ data: T, timeout: Duration = .seconds(5),
                                                       as type: R.Type = R.self) async throws -> R {
        try Namespace.checkEventName(event)
        let raw = try RawJSON.encoded(data)
        let answer = try await request(event, raw, timeout: timeout)
        return try (answer ?? .null).decode(R.self)
    }

    private func request(_ event: String, _ data: RawJSON?, timeout: Duration) async throws -> RawJSON? {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RawJSON?, any Error>) in
            let id: UInt64? = state.withLock { state in
                guard state.phase == .connected else { return nil }
                let extras = state.madeExtras()
                guard extras.pendingAcks.count < Self.maxPendingAcks else { return .max }
                extras.nextAckID += 1
                extras.pendingAcks[extras.nextAckID] = (event, continuation, nil)
                return extras.nextAckID
            }
            guard let id else { return continuation.resume(throwing: ParleyError.disconnected) }
            guard id != .max else { return continuation.resume(throwing: ParleyError.tooManyPendingAcks(limit: Self.maxPendingAcks)) }
            send(.event(name: event, data: data, id: id))
            let timer = loop.execute(after: timeout) { [weak self] in
                self?.completeAck(id, .failure(ParleyError.ackTimeout(event: event)))
            }
            // The answer may have come already (or the socket gone): then the timer is not needed.
            let waiting = state.withLock { state -> Bool in
                guard let extras = state.extras, extras.pendingAcks[id] != nil else { return false }
                extras.pendingAcks[id]?.timer = timer
                return true
            }
            if !waiting { timer.cancel() }
        }
    }

    /// Acknowledgements this server awaits from the client now (see ``Server/Metrics/pendingAcks``).
    var pendingAckCount: Int { state.withLock { $0.extras?.pendingAcks.count ?? 0 } }

    func completeAck(_ id: UInt64, _ result: Result<RawJSON?, any Error>) {
        let pending = state.withLock { $0.extras?.pendingAcks.removeValue(forKey: id) }
        pending?.timer?.cancel()
        pending?.continuation.resume(with: result)
    }

    /// Encodes and sends one envelope to this client (a Socket.IO client gets the matching packet).
    func send(_ envelope: Envelope) {
        switch link {
        case .envelope(let connection):
            connection.send(textUTF8Count: EnvelopeCodec.encodedCount(envelope)) { EnvelopeCodec.encode(envelope, into: $0) }
        case .socketIO(let connection): connection.send(envelope, namespace: namespace.name)
        }
    }

    func sendError(_ message: String) {
        var data: [UInt8] = Array(#"{"message":"#.utf8)
        EnvelopeCodec.appendJSONString(message, to: &data)
        data.append(UInt8(ascii: "}"))
        send(.event(name: "error", data: RawJSON(unchecked: data), id: nil))
    }

    // MARK: Rooms and broadcast

    /// Joins rooms (idempotent): all of them, or none when one is refused.
    ///
    /// ```swift
    /// socket.on("join") { (room: String, ack: Ack) in
    ///     do { try socket.join(room); ack() } catch { ack.fail(String(describing: error)) }
    /// }
    /// ```
    /// - Throws: ``ParleyError/reservedRoomName(_:)`` for a name of the form of a socket id
    ///   (other than this socket's own), ``ParleyError/roomNameTooLong(limit:)`` beyond
    ///   ``Server/Configuration/maxRoomNameBytes``, ``ParleyError/tooManyRooms(limit:)`` when
    ///   the socket would be in more than ``Server/Configuration/maxRoomsPerSocket`` rooms.
    public func join(_ rooms: String...) throws { try join(rooms) }

    /// Joins rooms (idempotent): all of them, or none when one is refused.
    /// - Throws: see ``join(_:)-(String...)``.
    public func join(_ rooms: [String]) throws {
        for room in rooms where room != id {
            guard room.utf8.count <= roomLimits.maxNameBytes else { throw ParleyError.roomNameTooLong(limit: roomLimits.maxNameBytes) }
            // Joining another socket's id room would receive what is sent to that socket alone.
            guard !Self.hasIDForm(room) else { throw ParleyError.reservedRoomName(room) }
        }
        // Under this socket's lock, so that two joins of one socket cannot both pass the count.
        try state.withLock { _ in
            let current = namespace.roomStore.rooms(of: id)  // includes the implied own-id room
            let added = Set(rooms).subtracting(current).count
            guard current.count - 1 + added <= roomLimits.maxRooms else { throw ParleyError.tooManyRooms(limit: roomLimits.maxRooms) }
            namespace.roomStore.join(id, rooms)
        }
    }

    /// Whether `name` has the form of a socket id: 22 base64url characters (``RandomID``).
    static func hasIDForm(_ name: String) -> Bool {
        name.utf8.count == 22 && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"): return true
            default: return false
            }
        }
    }
    /// Leaves a room.
    public func leave(_ room: String) { namespace.roomStore.leave(id, room) }
    /// The rooms this socket is in, including the one named by its id.
    public var rooms: Set<String> { namespace.roomStore.rooms(of: id) }

    /// Everyone in the namespace but this socket.
    public var broadcast: BroadcastOperator { BroadcastOperator(namespace: namespace).excluding(socket: id) }
    /// Members of `room` but this socket.
    public func to(_ room: String) -> BroadcastOperator { broadcast.to(room) }
    /// Everyone but this socket and the members of `room`.
    public func except(_ room: String) -> BroadcastOperator { broadcast.except(room) }

    /// Disconnects this client: it receives `disconnect` with reason `io server disconnect`
    /// (so it does not reconnect) and a close frame 1000.
    ///
    /// Takes effect at once, as in Socket.IO: `connected` turns false, later events from the
    /// client are ignored, `onDisconnecting` and `onDisconnect` run, and the socket leaves its
    /// rooms before this returns.
    public func disconnect() {
        let first = state.withLock { state -> Bool in
            guard state.reason == nil, state.phase != .disconnected else { return false }
            state.reason = .serverNamespaceDisconnect
            return true
        }
        guard first else { return }
        switch link {
        case .envelope(let connection):
            send(.event(name: "disconnect", data: RawJSON(unchecked: Array(#"{"reason":"io server disconnect"}"#.utf8)), id: nil))
            connection.close(code: .normalClosure, reason: "io server disconnect")
        case .socketIO(let connection):
            connection.leave(self, sending: .disconnect(namespace: namespace.name))
        }
        finish(.serverNamespaceDisconnect)
    }

    /// Whether the server is shutting down (``Server/close(gracePeriod:)`` has begun).
    var isShuttingDown: Bool { state.withLock { $0.reason == .serverShuttingDown } }

    /// Marks the reason that will be reported when the connection closes.
    func setReason(_ reason: DisconnectReason) {
        state.withLock { if $0.reason == nil { $0.reason = reason } }
    }

    // MARK: Connection glue (called on the connection's loop)

    /// A message from the client.
    func receive(_ message: WebSocketMessage) {
        guard admitted(.envelope(message)) else { return }
        switch message {
        case .binary:
            refuseBinary()
        case .text(var text):
            text.withUTF8 { decodeAndDispatch(UnsafeRawBufferPointer($0)) }
        }
    }

    /// A message from the client as bytes borrowed for the call (``WebSocket/onMessageBytes(_:)``;
    /// text is valid UTF-8): a connected socket decodes it where it lies, and only a message
    /// kept until `connect` is copied.
    func receive(_ opcode: Opcode, _ bytes: UnsafeRawBufferPointer) {
        guard isConnected.load(ordering: .acquiring) else {
            return receive(opcode == .text ? .text(String(decoding: bytes, as: UTF8.self)) : .binary(Array(bytes)))
        }
        if opcode == .text { decodeAndDispatch(bytes) } else { refuseBinary() }
    }

    private func decodeAndDispatch(_ bytes: UnsafeRawBufferPointer) {
        let envelope: Envelope
        do {
            envelope = try EnvelopeCodec.decode(bytes)
        } catch {
            namespace.log("parley: socket \(id): invalid envelope: \(error)")
            sendError("invalid envelope: \(error)")
            return
        }
        dispatch(envelope)
    }

    private func refuseBinary() {
        guard case .envelope(let connection) = link else { return }
        // Protocol.md: binary frames are not part of the protocol.
        setReason(.parseError)
        namespace.log("parley: socket \(id): binary frame refused (1003)")
        connection.close(code: .unsupportedData, reason: "binary frames are not supported")
    }

    /// Whether a message may be handled now; before `connect` it is kept (up to
    /// ``maxEarlyMessages``; beyond, the connection is closed), after a disconnect dropped.
    func admitted(_ message: Inbound) -> Bool {
        if isConnected.load(ordering: .acquiring) { return true }
        enum Admission { case handle, ignore, overEarlyLimit }
        let admission = state.withLock { state -> Admission in
            switch state.phase {
            case .connected: return .handle
            case .disconnected: return .ignore  // disconnected by the server: later events are ignored
            case .pending:
                // Checked before appending: `early` never holds more than `maxEarlyMessages`.
                // Over it the socket ends at once: what it sent is dropped, and an `accept`
                // from middleware finishing later finds it no longer pending.
                guard state.early.count < Self.maxEarlyMessages else {
                    state.phase = .disconnected  // was pending: `isConnected` is false
                    state.early = []
                    return .overEarlyLimit
                }
                state.early.append(message)
                return .ignore
            }
        }
        switch admission {
        case .handle: return true
        case .ignore: return false
        case .overEarlyLimit:
            switch link {
            case .envelope(let connection): connection.close(code: .policyViolation, reason: "too many messages before connect")
            case .socketIO(let connection): connection.close(.parseError)
            }
            return false
        }
    }

    private func dispatch(_ envelope: Envelope) {
        switch envelope {
        case .ack(let id, let data):
            completeAck(id, .success(data))
        case .ackError(let id, let message):
            completeAck(id, .failure(ParleyError.ackFailed(message: message)))
        case .event(let name, let data, let id):
            dispatchEvent(name, EventArguments(data: data), id: id)
        }
    }

    /// Runs the handlers of one event (any dialect).
    func dispatchEvent(_ name: String, _ arguments: EventArguments, id: UInt64?) {
        let data = arguments.data
        // Protocol.md 5.4: a heartbeat request from a client that cannot see pings (a
        // browser), answered at once and never shown to handlers.
        if name == "heartbeat" {
            if let id { send(.ack(id: id, data: nil)) }
            return
        }
        // Protocol.md 5.6: an event re-sent by a client that deduplicates runs once.
        if let id, recovery?.dedupeKey != nil, isDuplicate(ackID: id) { return }
        let ack = Ack(socket: self, id: id)
        if ReservedEvents.contains(name) {
            let message = "'\(name)' is a reserved event name"
            if ack.isRequested { ack.fail(message) } else { sendError(message) }
            return
        }
        let (matched, anyHandlers, sink) = state.withLock { state in
            var matched = MatchedHandlers.none
            var hasOnce = false
            let callbacks = state.handlers.callbacks
            // The byte counts first: a name of another length costs no string comparison.
            let count = name.utf8.count
            for (index, entry) in state.handlers.entries.enumerated() where entry.event.utf8.count == count && entry.event == name {
                let handler = callbacks[index]
                switch matched {
                case .none: matched = .one(handler)
                case .one(let first): matched = .several([first, handler])
                case .several(let list): matched = .several(list + [handler])
                }
                hasOnce = hasOnce || entry.once
            }
            if hasOnce { state.handlers.removeAll { $0.event == name && $0.once } }
            return (matched, state.extras?.anyHandlers ?? [], state.extras?.eventsSink)
        }
        for any in anyHandlers { any.handler(name, data) }
        var consumed = true
        switch matched {
        case .none:
            consumed = false
        case .one(let handler):
            do { try handler.call(arguments, ack, socket: self, event: name) } catch { report(error, from: name, ack: ack) }
        case .several(let handlers):
            for handler in handlers {
                do { try handler.call(arguments, ack, socket: self, event: name) } catch { report(error, from: name, ack: ack) }
            }
        }
        if let continuation = sink?.continuation {
            switch continuation.yield(SocketEvent(name: name, data: data, ack: ack)) {
            case .enqueued: consumed = true
            case .dropped: return ack.fail("server busy: event dropped")
            case .terminated:
                // The consumer stopped iterating: later events go to `on` handlers only.
                state.withLock { $0.extras?.eventsSink = nil }
            @unknown default: break
            }
        }
        if !consumed && ack.isRequested { ack.fail("no handler for event '\(name)'") }
    }

    /// Middleware accepted the client: announce, register, run connection handlers, then
    /// handle what the client sent meanwhile.
    func accept(pingInterval: Duration?, pingTimeout: Duration) {
        let alive = state.withLock { state -> Bool in
            guard state.phase == .pending else { return false }
            state.phase = .connected
            isConnected.store(true, ordering: .releasing)
            return true
        }
        guard alive else { return }
        switch link {
        case .envelope:
            var data: [UInt8] = Array(#"{"id":"#.utf8)
            EnvelopeCodec.appendJSONString(id, to: &data)
            let interval = pingInterval.map { Self.milliseconds($0) } ?? 0
            data += Array(#","pingInterval":\#(interval),"pingTimeout":\#(Self.milliseconds(pingTimeout))"#.utf8)
            if let recovery, let namespaceRecovery = namespace.recovery {
                // Registers, announces (with the session token) and replays in one step.
                namespaceRecovery.accept(self, recovery, connectData: data, rooms: namespace.roomStore)
            } else {
                namespace.roomStore.add(self)
                data.append(UInt8(ascii: "}"))
                send(.event(name: "connect", data: RawJSON(unchecked: data), id: nil))
            }
        case .socketIO(let connection):
            if let recovery, let namespaceRecovery = namespace.recovery {
                // Registers, answers CONNECT (with `pid`) and replays in one step.
                namespaceRecovery.accept(self, recovery, connectData: [], rooms: namespace.roomStore)
                break
            }
            namespace.roomStore.add(self)
            var data: [UInt8] = Array(#"{"sid":"#.utf8)
            EnvelopeCodec.appendJSONString(id, to: &data)
            data.append(UInt8(ascii: "}"))
            connection.send(.connect(namespace: namespace.name, payload: RawJSON(unchecked: data)))
        }
        namespace.log("parley: connect \(id) namespace \(namespace.name) from \(handshake.address)")
        namespace.runConnectionHandlers(self)
        compactHandlers()
        let early = state.withLock { state in
            defer { state.early = [] }
            return state.early
        }
        for message in early {
            switch message {
            case .envelope(let message): receive(message)
            case .socketIO(let packet): receive(packet)
            }
        }
    }

    /// Middleware refused the client: `connect_error`, then close 1008.
    func refuse(_ error: ConnectError) {
        state.withLock { state in
            state.phase = .disconnected
            state.early = []
            isConnected.store(false, ordering: .releasing)
        }
        var data: [UInt8] = Array(#"{"message":"#.utf8)
        EnvelopeCodec.appendJSONString(error.message, to: &data)
        if let detail = error.data { data += Array(#","data":"#.utf8) + detail.bytes }
        data.append(UInt8(ascii: "}"))
        namespace.log("parley: refused \(handshake.address) namespace \(namespace.name): \(error.message)")
        switch link {
        case .envelope(let connection):
            send(.event(name: "connect_error", data: RawJSON(unchecked: data), id: nil))
            connection.close(code: .policyViolation, reason: String(error.message.prefix(100)))
        case .socketIO(let connection):
            connection.leave(self, sending: .connectError(namespace: namespace.name, payload: RawJSON(unchecked: data)))
        }
    }

    /// The connection closed.
    func connectionClosed(code: CloseCode, reason closeReason: String) {
        finish(Self.reason(code: code, text: closeReason))
    }

    /// Ends the socket once: fails pending acks, ends `events`, and (if it was connected) runs
    /// `disconnecting` (rooms still set), leaves every room, then runs `disconnect`. A reason
    /// set earlier (server disconnect, shutdown, parse error) wins over `fallback`.
    func finish(_ fallback: DisconnectReason) {
        let (wasConnected, reason, disconnecting, disconnected, acks, sink) = state.withLock { state in
            let wasConnected = state.phase == .connected
            state.phase = .disconnected
            isConnected.store(false, ordering: .releasing)
            let reason = state.reason ?? fallback
            state.reason = reason
            defer {
                state.extras?.pendingAcks = [:]
                state.handlers.removeAll()
                state.extras?.anyHandlers = []
                state.disconnectingHandlers = []
                state.disconnectHandlers = []
                state.extras?.eventsSink = nil
                state.early = []
            }
            return (wasConnected, reason, state.disconnectingHandlers, state.disconnectHandlers,
                    state.extras?.pendingAcks ?? [:], state.extras?.eventsSink)
        }
        for (_, pending) in acks {
            pending.timer?.cancel()
            pending.continuation.resume(throwing: ParleyError.disconnected)
        }
        sink?.continuation.finish()
        guard wasConnected else { return }
        for entry in disconnecting {
            do { try entry.handler(reason) } catch { report(error, from: "disconnecting", ack: nil) }
        }
        if let recovery { namespace.recovery?.ended(self, recovery, reason: reason, rooms: namespace.roomStore) }
        namespace.roomStore.remove(self)
        for entry in disconnected {
            do { try entry.handler(reason) } catch { report(error, from: "disconnect", ack: nil) }
        }
        namespace.log("parley: disconnect \(id) (\(reason.rawValue))")
    }

    private static func reason(code: CloseCode, text: String) -> DisconnectReason {
        if text == "ping timeout" { return .pingTimeout }
        switch code {
        case .normalClosure: return .clientNamespaceDisconnect
        case .protocolError, .invalidPayload, .messageTooBig: return .transportError
        default: return .transportClose
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

extension RawJSON {
    /// `value` as JSON.
    static func encoded<T: Encodable>(_ value: T) throws -> RawJSON {
        do { return try RawJSON(encoding: value) } catch { throw ParleyError.encodingFailed(String(describing: error)) }
    }
}
