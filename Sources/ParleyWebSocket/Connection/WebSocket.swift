@_spi(IO) import ParleyIO
import Synchronization

/// One open WebSocket connection, server or client side.
///
/// A connection lives on one ``EventLoop``: its frames are read, its handlers called and its
/// writes made on that loop's thread, in order. ``send(_:)``, ``close(code:reason:)`` and the
/// handler setters may be called from any thread; off the loop they are handed to it.
///
/// ```swift
/// socket.onMessage { socket, message in socket.send(message) }   // echo
/// socket.onClose { _, code, reason in print("closed", code, reason) }
/// ```
///
/// **Slow consumers.** Outgoing frames wait in a queue bounded by
/// ``Configuration/maxBufferedBytes``. A *volatile* send (``send(_:volatile:)``) is dropped
/// when the socket is not writable (the kernel buffer is full). A send that would take the
/// queue past its bound discards the queue and closes the connection with 1008 ("send queue
/// full"): a peer that does not read cannot make the server hold unbounded memory.
///
/// `@unchecked Sendable`: all `var` state is touched only on `loop`'s thread; the public
/// methods that may be called elsewhere hop to the loop first (`bufferedAmount` is for handlers,
/// which run on the loop).
///
/// `@exclusivity(unchecked)`, as in ``EventLoop``: those loop-confined `var`s are accessed in
/// single statements, never across a call that could reach them again, so the runtime
/// exclusivity check is skipped for them. `carry` and `fragments` are mutated while their
/// messages are handed to the application, but only ``process(_:)`` reaches them, and nothing a
/// handler can call reads from the socket: no access overlaps either.
public final class WebSocket: @unchecked Sendable, Selectable, Flushable, DeadlineTarget {
    /// Which end of the connection this is.
    public enum Role: Sendable { case server, client }

    /// The outcome of a send.
    public enum SendResult: Sendable, Equatable {
        /// Queued for writing on this iteration of the loop.
        case enqueued
        /// Called off the loop: handed to the loop, which decides there.
        case scheduled
        /// A volatile send skipped because the socket is not writable.
        case dropped
        /// The connection is closing or closed.
        case closed
    }

    /// Limits and timers of a connection. Every default is explained where it is declared.
    public struct Configuration: Sendable {
        /// Largest frame payload accepted. 1 MiB: room for any event payload. A connection can
        /// hold up to `maxFrameSize` of a partial frame, `maxMessageSize` of fragments and
        /// `maxBufferedBytes` of send queue (6 MiB by default); what all connections hold
        /// together is bounded by the server's ``WebSocketServer/Configuration/maxBufferedBytes``.
        public var maxFrameSize = 1 << 20
        /// Largest message, summed over fragments; the same reasoning as `maxFrameSize`.
        public var maxMessageSize = 1 << 20
        /// Bound of the outgoing queue. 4 MiB: four maximum-size messages; a peer this far
        /// behind is not reading, and is disconnected (see the type's slow-consumer note).
        public var maxBufferedBytes = 4 << 20
        /// How often a server pings an idle peer; nil disables pings. 25 s, as Socket.IO: under
        /// the 30–60 s idle timeouts of common proxies and NATs.
        public var pingInterval: Duration? = .seconds(25)
        /// How long after a ping the peer has to send anything back. 20 s, as Socket.IO.
        public var pingTimeout: Duration = .seconds(20)
        /// How long to wait for the peer's close frame or TCP close once closing. 5 s: enough for
        /// a busy peer on a slow link, short enough that a vanished peer frees its slot soon.
        public var closeTimeout: Duration = .seconds(5)

        public init() {}
    }

    /// The loop this connection lives on. Stored, although `io` holds it too: a stored
    /// reference is used without a retain, the stream's unowned one is retained per use.
    public let loop: EventLoop
    /// The subprotocol negotiated in the handshake, if any.
    public var subprotocol: String? {
        subprotocolIndex == Self.noSubprotocol ? nil : settings.subprotocols[Int(subprotocolIndex)]
    }
    /// Limits, timers, counters and budget, shared with the server's other connections on this
    /// loop: an idle connection is only its own state (the stored properties below, ordered
    /// so that no padding is wasted), 181 bytes.
    let settings: ConnectionSettings
    private var configuration: Configuration { settings.configuration }
    /// The server loop's counters (nil for a client connection).
    private var counters: ConnectionCounters? { settings.counters }
    /// The server's account of buffered peer data (nil for a client connection); see
    /// ``BufferBudget``. `receiveHeld` is the parser's carry plus the fragments, as of the end
    /// of the last ``process(_:)``; `budgetCharge` what this connection has charged.
    private var budget: BufferBudget? { settings.budget }
    /// The socket: every read, write and interest change goes through it (it holds the loop).
    @exclusivity(unchecked) private var io: StreamIO
    /// Declared here and after `fragments`: each fills the 4 bytes of padding after the field
    /// before it (a `StreamIO` and a `Fragments` both end 4 bytes short of 8-byte alignment).
    @exclusivity(unchecked) private var receiveHeld: Int32 = 0

    /// Bytes of a frame not complete yet (see ``FrameParser``); empty, holding no memory, between frames.
    @exclusivity(unchecked) private var carry: [UInt8] = []
    /// The fragmented message in progress (see ``MessageAssembler``).
    @exclusivity(unchecked) private var fragments = MessageAssembler.Fragments()
    @exclusivity(unchecked) private var budgetCharge: Int32 = 0
    /// The closing handshake and its deadline once it has begun; nil before (most of a
    /// connection's life), so that an open connection keeps 8 bytes for them rather than 32.
    @exclusivity(unchecked) private var closeState: CloseState?
    @exclusivity(unchecked) private var queue = SendQueue()
    /// Bytes of `queue[0]` already written.
    @exclusivity(unchecked) private var queueHead = 0
    /// Bytes queued and not yet handed to the kernel.
    @exclusivity(unchecked) private var queuedBytes = 0
    /// The next ping, or the ping's answer deadline (see ``KeepAlive``); on the loop's
    /// deadline queues, not a timer each.
    @exclusivity(unchecked) private var pingDeadline = Deadline.none

    @exclusivity(unchecked) private var bytesHandler: (@Sendable (WebSocket, Opcode, UnsafeRawBufferPointer) -> Void)?
    @exclusivity(unchecked) private var closeHandler: (@Sendable (WebSocket, CloseCode, String) -> Void)?
    /// ``onMessage(_:)`` and ``onPing(_:)``, allocated when one is set: a server that reads
    /// bytes (``onMessageBytes(_:)``) keeps 16 bytes instead of 32 per connection.
    @exclusivity(unchecked) private var moreHandlers: MoreHandlers?

    public let role: Role
    /// Index of ``subprotocol`` in `settings.subprotocols`, or ``noSubprotocol``.
    private let subprotocolIndex: UInt8
    private static let noSubprotocol = UInt8.max
    @exclusivity(unchecked) private var keepAlive = KeepAlive()
    /// The connection's yes/no state, one bit each (see the properties below).
    @exclusivity(unchecked) private var flags: Flags = []

    private struct Flags: OptionSet {
        let rawValue: UInt8
        static let lastChunkOwned = Flags(rawValue: 1 << 0)
        static let flushScheduled = Flags(rawValue: 1 << 1)
        static let awaitingWritable = Flags(rawValue: 1 << 2)
        static let finishAfterFlush = Flags(rawValue: 1 << 3)
        static let shutdownAfterFlush = Flags(rawValue: 1 << 4)
        static let draining = Flags(rawValue: 1 << 5)
        static let isFinalized = Flags(rawValue: 1 << 6)
    }

    @inline(__always) private func flag(_ flag: Flags) -> Bool { flags.contains(flag) }
    @inline(__always) private func set(_ flag: Flags, _ value: Bool) {
        if value { flags.insert(flag) } else { flags.remove(flag) }
    }

    /// `queue.last` was allocated by this connection, so more frames may be appended to it.
    private var lastChunkOwned: Bool {
        get { flag(.lastChunkOwned) }
        set { set(.lastChunkOwned, newValue) }
    }
    private var flushScheduled: Bool {
        get { flag(.flushScheduled) }
        set { set(.flushScheduled, newValue) }
    }
    /// The kernel send buffer is full; the stream watches for writability.
    private var awaitingWritable: Bool {
        get { flag(.awaitingWritable) }
        set { set(.awaitingWritable, newValue) }
    }
    /// Once the queue is empty: stop writing (and half-close when `shutdownAfterFlush`).
    private var finishAfterFlush: Bool {
        get { flag(.finishAfterFlush) }
        set { set(.finishAfterFlush, newValue) }
    }
    private var shutdownAfterFlush: Bool {
        get { flag(.shutdownAfterFlush) }
        set { set(.shutdownAfterFlush, newValue) }
    }
    /// Reads are discarded while waiting for the peer's TCP close.
    private var draining: Bool {
        get { flag(.draining) }
        set { set(.draining, newValue) }
    }
    private var isFinalized: Bool {
        get { flag(.isFinalized) }
        set { set(.isFinalized, newValue) }
    }

    /// The closing handshake's state (see ``closing``) and the deadline of the peer's answer.
    private final class CloseState {
        var handshake: CloseHandshake
        var deadline = Deadline.none
        init(_ handshake: CloseHandshake) { self.handshake = handshake }
    }

    /// The closing handshake: read as the initial state until it begins (no allocation on the
    /// message path), kept in ``closeState`` from its first change.
    private var closing: CloseHandshake {
        get { closeState?.handshake ?? CloseHandshake(isServer: role == .server) }
        set {
            if let closeState { closeState.handshake = newValue } else { closeState = CloseState(newValue) }
        }
    }

    /// The close deadline (see ``armCloseTimer()``), kept in ``closeState``: set only once
    /// closing has begun.
    private var closeDeadline: Deadline {
        get { closeState?.deadline ?? .none }
        set {
            if closeState == nil, newValue != .none { closeState = CloseState(closing) }
            closeState?.deadline = newValue
        }
    }

    /// The handlers most servers do not set.
    private final class MoreHandlers {
        var message: (@Sendable (WebSocket, WebSocketMessage) -> Void)?
        var ping: (@Sendable (WebSocket) -> Void)?
    }

    /// - Parameters:
    ///   - io: the connected stream, registered on its loop (the caller hands its
    ///     registration over with ``EventLoop/replaceHandler(_:with:)``).
    ///   - settings: what the connection shares with the server's others on its loop.
    ///   - subprotocol: the negotiated subprotocol: one of `settings.subprotocols` (else the
    ///     connection gets settings of its own that name it).
    init(io: StreamIO, role: Role, subprotocol: String?, settings: ConnectionSettings) {
        self.io = io
        self.loop = io.loop
        self.role = role
        if let subprotocol {
            if let index = settings.subprotocols.firstIndex(of: subprotocol), index < Int(Self.noSubprotocol) {
                self.settings = settings
                subprotocolIndex = UInt8(index)
            } else {
                self.settings = settings.naming(subprotocol: subprotocol)
                subprotocolIndex = 0
            }
        } else {
            self.settings = settings
            subprotocolIndex = Self.noSubprotocol
        }
    }

    /// A connection with settings of its own (a client's).
    convenience init(io: StreamIO, role: Role, subprotocol: String?, configuration: Configuration) {
        self.init(io: io, role: role, subprotocol: subprotocol,
                  settings: ConnectionSettings(configuration: configuration, subprotocols: subprotocol.map { [$0] } ?? []))
    }

    /// The peer's address as `ip:port` (`[ip]:port` for IPv6), or "" once closed.
    public var remoteAddress: String { SystemSocket.peerAddress(io.fd) }

    /// Whether the connection is TLS (`wss://`).
    public var isSecure: Bool { io.isSecure }

    /// Bytes queued for sending and not yet handed to the kernel. Read it on the connection's
    /// loop (in a handler); from another thread the value is not synchronised.
    public var bufferedAmount: Int { queuedBytes }

    /// Sets the handler of incoming messages, called on the loop in arrival order.
    public func onMessage(_ handler: @escaping @Sendable (WebSocket, WebSocketMessage) -> Void) {
        onLoop { $0.handlers().message = handler }
    }

    /// Sets the handler of incoming messages as bytes borrowed for the call, on the loop in
    /// arrival order: for code that reads a message in place (a decoder, an echo), with no
    /// `String` or array made per message. The opcode is `.text` (the bytes are valid UTF-8,
    /// already checked) or `.binary`. With ``onMessage(_:)`` also set, both are called.
    ///
    /// ```swift
    /// socket.onMessageBytes { socket, opcode, bytes in
    ///     opcode == .text ? socket.send(textUTF8: bytes) : socket.send(binary: bytes)
    /// }
    /// ```
    /// - Parameter handler: gets the socket, the opcode and the message; the bytes are valid
    ///   only during the call: copy what is kept.
    public func onMessageBytes(_ handler: @escaping @Sendable (WebSocket, Opcode, UnsafeRawBufferPointer) -> Void) {
        onLoop { $0.bytesHandler = handler }
    }

    /// Sets the handler called once when the connection has closed, with the close code and
    /// reason (1005 when the peer's close frame had none, 1006 when the connection dropped).
    public func onClose(_ handler: @escaping @Sendable (WebSocket, CloseCode, String) -> Void) {
        onLoop { $0.closeHandler = handler }
    }

    /// Sets the handler called on the loop when a ping frame arrives, after its pong is queued:
    /// a client watches a server's liveness with it, since a server that only pings sends no message.
    public func onPing(_ handler: @escaping @Sendable (WebSocket) -> Void) {
        onLoop { $0.handlers().ping = handler }
    }

    // MARK: Sending

    /// Sends a message.
    /// - Returns: see ``SendResult``.
    @discardableResult
    public func send(_ message: WebSocketMessage) -> SendResult {
        switch message {
        case .text(let text): return send(text: text)
        case .binary(let bytes): return send(binary: bytes)
        }
    }

    /// Sends a text message.
    @discardableResult
    public func send(text: String) -> SendResult {
        guard loop.inEventLoop else {
            loop.execute { [self] in send(text: text) }
            return .scheduled
        }
        var text = text
        return text.withUTF8 { enqueueData(.text, UnsafeRawBufferPointer($0)) }
    }

    /// Sends a text message given as UTF-8 bytes (the caller guarantees they are valid UTF-8),
    /// skipping a String round trip for encoded JSON.
    @discardableResult
    public func send(textUTF8 bytes: [UInt8]) -> SendResult {
        guard loop.inEventLoop else {
            loop.execute { [self] in send(textUTF8: bytes) }
            return .scheduled
        }
        return bytes.withUnsafeBytes { enqueueData(.text, $0) }
    }

    /// Sends a text message given as UTF-8 bytes (the caller guarantees they are valid UTF-8),
    /// copied into the send queue: a message from ``onMessageBytes(_:)`` goes back without an
    /// array. Off the loop the bytes are copied once more, to be handed over.
    @discardableResult
    public func send(textUTF8 bytes: UnsafeRawBufferPointer) -> SendResult {
        guard loop.inEventLoop else { return send(textUTF8: Array(bytes)) }
        return enqueueData(.text, bytes)
    }

    /// Sends a text message of exactly `count` bytes that `write` puts straight into the send
    /// queue (the caller guarantees valid UTF-8): an encoder writes its output in place, with no
    /// intermediate array. Off the loop (or on a client connection, whose frames are masked) the
    /// bytes are written into an array first and sent as by ``send(textUTF8:)-([UInt8])``.
    ///
    /// ```swift
    /// let count = EnvelopeCodec.encodedCount(envelope)
    /// connection.send(textUTF8Count: count) { EnvelopeCodec.encode(envelope, into: $0) }
    /// ```
    /// - Parameters:
    ///   - count: the payload size.
    ///   - write: fills its buffer of exactly `count` bytes; called once, before this returns.
    /// - Returns: see ``SendResult``.
    @discardableResult
    public func send(textUTF8Count count: Int, _ write: (UnsafeMutableRawBufferPointer) -> Void) -> SendResult {
        guard loop.inEventLoop, role == .server else {
            var bytes = [UInt8](repeating: 0, count: count)
            bytes.withUnsafeMutableBytes { write($0) }
            return send(textUTF8: bytes)
        }
        guard closing.canSend, !isFinalized else { return .closed }
        let size = FrameEncoder.headerSize(payloadCount: count, masked: false) + count
        guard admit(size) else { return .closed }
        let chunk: ByteChunk
        if lastChunkOwned, let last = queue.last, last.freeSpace >= size {
            chunk = last
        } else {
            chunk = size <= ByteChunk.standardCapacity ? loop.takeChunk() : ByteChunk(capacity: size)
            queue.append(chunk)
            lastChunkOwned = true
        }
        let header = FrameEncoder.writeHeader(opcode: .text, payloadCount: count, maskKey: nil, to: chunk.end)
        write(UnsafeMutableRawBufferPointer(start: chunk.end + header, count: count))
        chunk.commit(size)
        didEnqueue(size)
        counters?.sentMessage()
        return .enqueued
    }

    /// Sends a binary message given as bytes, copied into the send queue (see
    /// ``send(textUTF8:)-(UnsafeRawBufferPointer)``).
    @discardableResult
    public func send(binary bytes: UnsafeRawBufferPointer) -> SendResult {
        guard loop.inEventLoop else { return send(binary: Array(bytes)) }
        return enqueueData(.binary, bytes)
    }

    /// Sends a binary message.
    @discardableResult
    public func send(binary: [UInt8]) -> SendResult {
        guard loop.inEventLoop else {
            loop.execute { [self] in send(binary: binary) }
            return .scheduled
        }
        return binary.withUnsafeBytes { enqueueData(.binary, $0) }
    }

    /// Sends a frame encoded once for many connections (a broadcast).
    /// - Parameters:
    ///   - frame: the shared frame; a client connection re-encodes it, since client frames are masked.
    ///   - volatile: drop the frame instead of queueing it when the socket is not writable.
    @discardableResult
    public func send(_ frame: EncodedFrame, volatile: Bool = false) -> SendResult {
        guard loop.inEventLoop else {
            loop.execute { [self] in send(frame, volatile: volatile) }
            return .scheduled
        }
        if volatile && awaitingWritable && closing.canSend {
            counters?.droppedVolatile()
            return .dropped
        }
        if role == .client { return enqueueData(frame.opcode, frame.payload) }
        // A small frame joins the connection's own chunk when one with room is at the tail (one
        // iovec for many frames); otherwise, and for large frames, the shared bytes are queued by
        // reference: the same bytes for every target, and no chunk taken (a broadcast to
        // thousands of idle connections would otherwise take a fresh chunk for each).
        if frame.chunk.count <= Self.copyThreshold, lastChunkOwned, let last = queue.last,
           last.freeSpace >= frame.chunk.count {
            return enqueueData(frame.opcode, frame.payload)
        }
        guard closing.canSend, !isFinalized else { return .closed }
        guard admit(frame.chunk.count) else { return .closed }
        queue.append(frame.chunk)
        lastChunkOwned = false  // shared bytes are never appended to
        didEnqueue(frame.chunk.count)
        counters?.sentMessage()
        return .enqueued
    }

    /// Frames up to this size are copied into a chunk the connection already has, rather than
    /// shared: a copy of a few hundred bytes is cheaper than one more iovec.
    static let copyThreshold = 1024
    /// Capacity of a fresh outgoing chunk: many small frames share one allocation and one iovec.

    /// Sends a ping with up to 125 bytes of payload.
    public func ping(_ payload: [UInt8] = []) {
        onLoop { socket in
            let payload = Array(payload.prefix(125))
            guard socket.closing.canSend, !socket.isFinalized,
                  socket.admit(FrameEncoder.headerSize(payloadCount: payload.count, masked: socket.role == .client) + payload.count) else { return }
            payload.withUnsafeBytes { socket.enqueueControl(.ping, $0) }
        }
    }

    /// Starts the closing handshake (RFC 6455 7.1.2). `onClose` runs once the peer answers
    /// and TCP is closed, or after ``Configuration/closeTimeout``.
    /// - Parameters:
    ///   - code: the close code; must be valid on the wire (``CloseCode/isValidOnWire``).
    ///   - reason: UTF-8 text, cut to fit the 125-byte control frame.
    public func close(code: CloseCode = .normalClosure, reason: String = "") {
        onLoop { $0.apply($0.closing.localClose(code: code.isValidOnWire ? code : .normalClosure, reason: reason)) }
    }

    /// Closes the TCP connection at once, without a closing handshake (reported as 1006).
    public func terminate(reason: String = "terminated") {
        onLoop { $0.finalize(code: .abnormalClosure, reason: reason) }
    }

    /// ``moreHandlers``, made on first use.
    private func handlers() -> MoreHandlers {
        if let moreHandlers { return moreHandlers }
        let made = MoreHandlers()
        moreHandlers = made
        return made
    }

    private func onLoop(_ body: @escaping @Sendable (WebSocket) -> Void) {
        if loop.inEventLoop { body(self) } else { loop.execute { [self] in body(self) } }
    }

    /// Whether `count` more bytes fit the queue; if not, applies the slow-consumer policy.
    private func admit(_ count: Int) -> Bool {
        guard bufferedAmount + count > configuration.maxBufferedBytes else { return true }
        // Keep the head chunk: it may be partly written (cutting it would corrupt the stream)
        // or hold the 101. It holds whole frames only, so the close frame can follow it.
        if let head = queue.first {
            queue.keepFirstOnly()
            queuedBytes = head.count - queueHead
        }
        lastChunkOwned = false
        counters?.closedForFullQueue()
        apply(closing.localClose(code: .policyViolation, reason: "send queue full"))
        return false
    }

    private func enqueueData(_ opcode: Opcode, _ payload: UnsafeRawBufferPointer) -> SendResult {
        guard closing.canSend, !isFinalized else { return .closed }
        let size = FrameEncoder.headerSize(payloadCount: payload.count, masked: role == .client) + payload.count
        guard admit(size) else { return .closed }
        appendFrame(opcode, payload, size: size)
        counters?.sentMessage()
        return .enqueued
    }

    /// Queues a control frame without the bound check: callers admit pings and pongs
    /// themselves, and the close frame must always go out.
    private func enqueueControl(_ opcode: Opcode, _ payload: UnsafeRawBufferPointer) {
        guard !isFinalized else { return }
        appendFrame(opcode, payload, size: FrameEncoder.headerSize(payloadCount: payload.count, masked: role == .client) + payload.count)
    }

    private func appendFrame(_ opcode: Opcode, _ payload: UnsafeRawBufferPointer, size: Int) {
        let mask = role == .client ? loop.nextMaskKey() : nil
        if lastChunkOwned, let last = queue.last, last.freeSpace >= size {
            last.appendFrame(opcode: opcode, payload: payload, maskKey: mask)
        } else {
            let chunk = size <= ByteChunk.standardCapacity ? loop.takeChunk() : ByteChunk(capacity: size)
            chunk.appendFrame(opcode: opcode, payload: payload, maskKey: mask)
            queue.append(chunk)
            lastChunkOwned = true
        }
        didEnqueue(size)
    }

    /// Queues raw bytes (the handshake response) ahead of any frame. A response that fits
    /// goes into a chunk of the loop's pool, which the first frames then join.
    func enqueueRaw(_ bytes: [UInt8]) {
        let pooled = bytes.count <= ByteChunk.standardCapacity && queue.isEmpty
        let chunk = pooled ? loop.takeChunk() : ByteChunk(capacity: bytes.count)
        bytes.withUnsafeBytes { chunk.append($0) }
        queue.append(chunk)
        lastChunkOwned = pooled
        didEnqueue(bytes.count)
    }

    private func didEnqueue(_ count: Int) {
        queuedBytes += count
        accountBuffers()
        if !flushScheduled && !awaitingWritable {
            flushScheduled = true
            loop.scheduleFlush(self)
        }
    }

    // MARK: Loop side

    /// Starts the ping deadline; the server and client call it once the connection is open.
    func start() {
        schedulePing()
    }

    package func handleEvents(_ events: IOEvents) {
        if io.shouldRead(events) {
            readAvailable()
        }
        if awaitingWritable && !isFinalized && io.shouldWrite(events) {
            awaitingWritable = false
            flush()
            // Drained: stop watching for writability (flush re-arms it if the kernel is full again).
            if !awaitingWritable && !isFinalized { io.writesDrained() }
        }
    }

    /// Reads what the kernel has, a bounded number of times so one busy peer cannot starve the
    /// loop's other connections (the pollers are level-triggered: the rest is reported again).
    private func readAvailable() {
        let buffer = loop.readBuffer
        for _ in 0..<4 {
            switch io.read(into: buffer) {
            case .bytes(let n):
                counters?.received(bytes: n)
                if draining { continue }
                process(UnsafeMutableRawBufferPointer(start: buffer.baseAddress, count: n))
                if isFinalized || (n < buffer.count && !io.hasBufferedInput) { return }
            case .wouldBlock:
                return
            case .endOfStream:
                peerClosedTCP()
                return
            case .failed(let code):
                finalize(code: closing.code ?? .abnormalClosure, reason: closing.code == nil ? "read failed: \(io.transport.failureDescription(code))" : closing.reason)
                return
            }
        }
    }

    /// Parses and handles bytes read from the peer (or left over from the handshake).
    func process(_ bytes: UnsafeMutableRawBufferPointer) {
        guard closing.isReading else { return }
        do {
            try FrameParser.parse(bytes, carry: &carry, expectMasked: role == .server, maxFrameSize: configuration.maxFrameSize) { frame in
                guard let event = try MessageAssembler.receive(frame, into: &fragments, maxMessageSize: configuration.maxMessageSize,
                                                               onMessage: deliver) else { return }
                try handle(event)
            }
        } catch let error as WebSocketError {
            apply(closing.fail(error))
        } catch {
            // StopReading: a close frame ended the stream of frames.
        }
        if budget != nil {
            receiveHeld = Int32(clamping: carry.count + fragments.bytes.count)
            accountBuffers()
        }
    }

    private struct StopReading: Error {}

    /// Hands a data message to the handlers.
    private func deliver(_ opcode: Opcode, _ payload: UnsafeRawBufferPointer) throws {
        guard !isFinalized else { throw StopReading() }
        keepAlive.frameReceived()
        // Once this side has sent a close frame, what the peer sends before its close
        // reply is read (to find that reply) but never handed to the application.
        if closing.canSend {
            counters?.receivedMessage()
            bytesHandler?(self, opcode, payload)
            if let messageHandler = moreHandlers?.message {
                messageHandler(self, opcode == .text ? .text(String(decoding: payload, as: UTF8.self)) : .binary(Array(payload)))
            }
        }
        if !closing.isReading { throw StopReading() }
    }

    private func handle(_ event: MessageAssembler.Event) throws {
        guard !isFinalized else { throw StopReading() }
        keepAlive.frameReceived()
        switch event {
        case .message(let message):
            // Not produced by `receive(_:onMessage:)`, which hands messages to `deliver`.
            guard closing.canSend else { break }
            counters?.receivedMessage()
            moreHandlers?.message?(self, message)
        case .ping(let payload):
            // RFC 6455 5.5.2: answer a ping with a pong carrying the same payload. Pongs count
            // against the queue bound, so a peer that pings without reading cannot grow it.
            if closing.canSend, admit(FrameEncoder.headerSize(payloadCount: payload.count, masked: role == .client) + payload.count) {
                payload.withUnsafeBytes { enqueueControl(.pong, $0) }
            }
            moreHandlers?.ping?(self)
        case .pong:
            break
        case .close(let code, let reason):
            apply(closing.peerClose(code: code, reason: reason))
            throw StopReading()
        }
        if !closing.isReading { throw StopReading() }
    }

    /// Carries out the closing handshake's actions.
    private func apply(_ actions: [CloseHandshake.Action]) {
        for action in actions {
            switch action {
            case .sendClose(let payload):
                payload.withUnsafeBytes { enqueueControl(.close, $0) }
            case .awaitReply:
                armCloseTimer()
            case .finish(let shutdownWrite):
                finishAfterFlush = true
                shutdownAfterFlush = shutdownWrite
                armCloseTimer()
                if queue.isEmpty { finishWriting() }
            }
        }
    }

    private func armCloseTimer() {
        guard closeDeadline == .none, !isFinalized else { return }
        // The loop holds the connection strongly until the deadline (a weak reference would
        // move its reference count to a side table and slow every retain); finalize cancels it.
        closeDeadline = loop.setDeadline(after: configuration.closeTimeout, for: self)
    }

    private func closeTimerFired() {
        // The peer did not answer: 1006, with the reason of our own close kept for the record.
        let code = closing.receivedClose ? (closing.code ?? .abnormalClosure) : .abnormalClosure
        let reason = closing.receivedClose ? closing.reason
            : (closing.reason.isEmpty ? "close timeout" : "close timeout (\(closing.reason))")
        finalize(code: code, reason: reason)
    }

    package func deadlineReached(_ deadline: Deadline) {
        // A deadline cancelled by an earlier callback of the same sweep may still arrive.
        if deadline == pingDeadline {
            pingDeadline = .none
            switch keepAlive.phase {
            case .waitingToPing: pingTimerFired()
            case .awaitingAnswer: pingDeadlineFired()
            }
        } else if deadline == closeDeadline {
            closeDeadline = .none
            closeTimerFired()
        }
    }

    private func peerClosedTCP() {
        if closing.receivedClose {
            finalize(code: closing.code ?? .abnormalClosure, reason: closing.reason)
        } else {
            finalize(code: .abnormalClosure, reason: "connection lost")
        }
    }

    /// Writes the queue with one gathered write per batch of up to 64 chunks.
    package func flush() {
        flushScheduled = false
        guard !isFinalized, !awaitingWritable else { return }
        while !queue.isEmpty {
            switch writeQueue() {
            case .bytes(let written):
                consume(written)
                accountBuffers()
                counters?.sent(bytes: written)
            case .wouldBlock:
                // The stream now watches for the readiness the write waits for.
                awaitingWritable = true
                return
            case .failed(let code):
                finalize(code: .abnormalClosure, reason: "write failed: \(io.transport.failureDescription(code))")
                return
            case .endOfStream:  // writes never report it
                finalize(code: .abnormalClosure, reason: "connection lost")
                return
            }
        }
        if awaitingWritable == false, finishAfterFlush { finishWriting() }
    }

    /// Writes the head of the queue: one plain write for one chunk (the usual case), else one
    /// gathered write of up to 64. No chunk reference outlives the call, so that ``consume(_:)``
    /// finds written chunks unshared and gives them back to the pool.
    private func writeQueue() -> IOResult {
        guard queue.count > 1 else {
            guard let first = queue.first else { return .bytes(0) }
            return io.write(UnsafeRawBufferPointer(start: first.base + queueHead, count: first.count - queueHead))
        }
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: 64) { vectors in
            var count = 0
            queue.forEach(limit: 64) { chunk in
                let offset = count == 0 ? queueHead : 0
                vectors[count] = iovec(iov_base: chunk.base + offset, iov_len: chunk.count - offset)
                count += 1
            }
            return io.write(vectors: UnsafePointer(vectors.baseAddress!), count: count)
        }
    }

    /// Drops `count` written bytes from the front of the queue, recycling chunks this
    /// connection owned.
    private func consume(_ count: Int) {
        if count == queuedBytes {
            // All written (the usual case): every chunk goes, with no walk over partial ones.
            queue.removeFirst(queue.count, recycle)
            queueHead = 0
            queuedBytes = 0
            lastChunkOwned = false
            return
        }
        queuedBytes -= count
        var remaining = count
        var drop = 0
        var stop = false
        queue.forEach(limit: .max) { chunk in
            guard !stop else { return }
            let available = chunk.count - (drop == 0 ? queueHead : 0)
            guard remaining >= available else {
                queueHead = (drop == 0 ? queueHead : 0) + remaining
                stop = true
                return
            }
            remaining -= available
            drop += 1
            if drop == 1 { queueHead = 0 }
        }
        guard drop > 0 else { return }
        if drop == queue.count { lastChunkOwned = false }
        queue.removeFirst(drop, recycle)
    }

    /// Gives a written chunk back to the loop's pool if it came from there and no one else holds
    /// it. Only pool chunks have the standard capacity; a shared frame never does
    /// (`EncodedFrame` sizes its chunk to the frame), but the reference is checked anyway.
    private func recycle(_ chunk: inout ByteChunk) {
        if chunk.capacity == ByteChunk.standardCapacity && isKnownUniquelyReferenced(&chunk) { loop.recycle(chunk) }
    }

    /// After the last frame: half-close if asked, then wait for the peer's TCP close.
    private func finishWriting() {
        guard !draining, !isFinalized else { return }
        draining = true
        if shutdownAfterFlush { io.shutdownOutput() }
    }

    /// Closes the socket and reports the close once.
    func finalize(code: CloseCode, reason: String) {
        guard !isFinalized else { return }
        isFinalized = true
        loop.cancel(pingDeadline)
        loop.cancel(closeDeadline)
        pingDeadline = .none
        closeDeadline = .none
        io.close()
        queue.removeAll()
        queuedBytes = 0
        if budgetCharge > 0 {
            budget?.recharge(self, from: Int(budgetCharge), to: 0)
            budgetCharge = 0
        }
        let handler = closeHandler
        moreHandlers = nil
        bytesHandler = nil
        closeHandler = nil
        // Free the server slot first, so `connectionCount` is already current inside onClose.
        settings.onFinalize?()
        handler?(self, code, reason)
    }

    // MARK: Liveness

    private func schedulePing(after delay: Duration? = nil) {
        guard let interval = configuration.pingInterval, !isFinalized else { return }
        pingDeadline = loop.setDeadline(after: delay ?? interval, for: self)
    }

    private func pingTimerFired() {
        guard closing.canSend, !isFinalized else { return }
        _ = keepAlive.pingDue()
        enqueueControl(.ping, UnsafeRawBufferPointer(start: nil, count: 0))
        pingDeadline = loop.setDeadline(after: configuration.pingTimeout, for: self)
    }

    private func pingDeadlineFired() {
        switch keepAlive.deadlineDue() {
        case .timedOut:
            finalize(code: .abnormalClosure, reason: "ping timeout")
        default:
            let interval = configuration.pingInterval ?? .zero
            let rest = interval > configuration.pingTimeout ? interval - configuration.pingTimeout : .zero
            schedulePing(after: rest)
        }
    }

    // MARK: Server buffer budget

    /// Charges or credits the server's ``BufferBudget`` when what this connection holds has
    /// crossed a granule; a comparison when it holds less than the allowance.
    @inline(__always)
    private func accountBuffers() {
        let held = Int(receiveHeld) + queuedBytes
        guard held > BufferBudget.allowance || budgetCharge > 0, !isFinalized, let budget else { return }
        // Charged in 32 bits (a connection holds far less than 2 GiB: its queue bound is 4 MiB).
        let charge = Int32(clamping: BufferBudget.charge(forHeld: held))
        guard charge != budgetCharge else { return }
        let old = budgetCharge
        budgetCharge = charge
        budget.recharge(self, from: Int(old), to: Int(charge))
    }

    /// The server's buffer budget is spent and this connection holds among the most: frees its
    /// parser carry, fragments and queued frames (but a partly written head chunk) and fails it
    /// with 1013 "Try Again Later" (the server is overloaded, the client may come back).
    func shedBuffers() {
        guard !isFinalized else { return }
        carry = []
        fragments = MessageAssembler.Fragments()
        receiveHeld = 0
        if let head = queue.first {
            queue.keepFirstOnly()
            queuedBytes = head.count - queueHead
        }
        lastChunkOwned = false
        apply(closing.fail(code: .tryAgainLater, reason: "server buffers full"))
        accountBuffers()
    }
}
