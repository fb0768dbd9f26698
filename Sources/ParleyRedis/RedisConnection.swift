import Dispatch
import Glibc
import ParleyWebSocket
import Synchronization

/// One connection to a Redis server over RESP2, on a ParleyWebSocket event loop: `AUTH` and
/// `SELECT` from the URL, pipelined commands and `PUBLISH`, `SUBSCRIBE`/`PSUBSCRIBE` with
/// messages delivered to a handler, and reconnection with backoff that re-subscribes.
///
/// Use one connection to publish and another to subscribe: RESP2 allows nothing but
/// (un)subscribing on a connection once it has subscribed.
///
/// ```swift
/// let loop = EventLoopGroup(loopCount: 1, name: "redis").next()
/// let url = try RedisURL("redis://127.0.0.1:6379")
/// let subscriber = RedisConnection(configuration: .init(url: url), loop: loop, onMessage: { message in
///     print(String(decoding: message.payload, as: UTF8.self))
/// })
/// subscriber.subscribe(Array("news".utf8))
/// try subscriber.connect()            // throws on refused connection, bad AUTH or SELECT
/// let publisher = RedisConnection(configuration: .init(url: url), loop: loop)
/// try publisher.connect()
/// publisher.publish(channel: Array("news".utf8), message: Array("hello".utf8))
/// ```
///
/// **Threads.** Every method may be called from any thread; handlers run on the loop thread.
/// **Outages.** After the first successful ``connect()``, a lost connection is retried with
/// ``Backoff`` until ``close()``; commands and publications made meanwhile fail at once
/// (``RedisError/notConnected``): nothing is queued for later. ``Event``s tell the owner.
/// **Bounds.** At most ``Configuration/maxBufferedBytes`` wait to be written; beyond, commands
/// are dropped (``RedisError/bufferFull(limit:)``), counted in ``droppedCount``, and
/// ``Event/bufferFull`` is reported once per episode.
public final class RedisConnection: Sendable {
    /// Where to connect and the limits. Every default is explained where it is declared.
    public struct Configuration: Sendable {
        /// Host, port, credentials and database.
        public var url: RedisURL
        /// TCP connect plus `AUTH`/`SELECT`/subscriptions must finish within this. 5 s: Redis
        /// answers in microseconds; longer means it is down or unreachable.
        public var connectTimeout: Duration = .seconds(5)
        /// Bytes waiting to be written at most (plus one batch being written). 8 MiB: several
        /// thousand broadcasts of a few KB while Redis is slow, without unbounded memory.
        public var maxBufferedBytes = 8 * 1024 * 1024
        /// Largest reply or message accepted (a protocol error beyond). 64 MiB, see
        /// ``RESPParser/maxValueBytes``.
        public var maxReplyBytes = 64 * 1024 * 1024
        /// Delays between reconnection attempts.
        public var backoff = Backoff()

        /// - Parameter url: the Redis to connect to.
        public init(url: RedisURL) {
            self.url = url
        }
    }

    /// What happens to the connection after the first ``connect()``; reported on the loop thread.
    public enum Event: Sendable, Equatable {
        /// The connection was lost (or a reconnection attempt failed for the first time after
        /// it was ready); retries follow.
        case disconnected(RedisError)
        /// Connected again, authenticated, and subscribed again.
        case reconnected
        /// The outgoing buffer is full: commands are being dropped (reported once per episode).
        case bufferFull
    }

    /// A command's answer, called on the loop thread.
    public typealias ReplyHandler = @Sendable (Result<RESPValue, RedisError>) -> Void

    fileprivate struct Shared {
        var ready = false
        var closed = false
        var output: [UInt8] = []
        /// One entry per command written, in order; nil for a `PUBLISH` nobody awaits.
        var replies: [ReplyHandler?] = []
        var replyHead = 0
        var flushScheduled = false
        var channels: [[UInt8]] = []
        var patterns: [[UInt8]] = []
        var dropped = 0
        var fullEpisode = false
    }

    /// The configuration the connection was made with.
    public let configuration: Configuration
    /// The loop the connection lives on.
    public let loop: EventLoop
    private let state: ConnectionState
    private let driver: Driver

    /// Creates a connection; call ``connect()`` to open it.
    /// - Parameters:
    ///   - configuration: URL, timeouts and limits.
    ///   - loop: the event loop whose thread reads and writes the socket and runs the handlers.
    ///   - onMessage: messages of subscribed channels and patterns.
    ///   - onEvent: disconnects, reconnects and full buffers after the first connect.
    public init(configuration: Configuration, loop: EventLoop,
                onMessage: @escaping @Sendable (RedisPubSubMessage) -> Void = { _ in },
                onEvent: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.configuration = configuration
        self.loop = loop
        state = ConnectionState()
        driver = Driver(configuration: configuration, loop: loop, state: state, onMessage: onMessage, onEvent: onEvent)
    }

    deinit {
        // Dropped without close(): stop reconnecting.
        state.shared.withLock { $0.closed = true }
        loop.execute { [driver] in driver.shutDown() }
    }

    /// Connects, authenticates, selects the database and subscribes to what ``subscribe(_:)``
    /// and ``psubscribe(_:)`` asked for, waiting (blocking the calling thread) until that is
    /// done. Later losses of the connection are retried without an error.
    /// Call once, not on the loop thread.
    /// - Throws: ``RedisError/connectFailed(host:port:errno:)``, ``RedisError/connectTimeout(host:port:)``,
    ///   ``RedisError/authFailed(_:)``, ``RedisError/selectFailed(_:)``,
    ///   ``RedisError/commandFailed(_:)``, ``RedisError/protocolError(_:)``. The connection is
    ///   closed then.
    public func connect() throws {
        precondition(!loop.inEventLoop, "RedisConnection.connect() blocks: call it off the loop thread")
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<RedisError?>(nil)
        loop.execute { [driver] in
            driver.start { error in
                outcome.withLock { $0 = error }
                done.signal()
            }
        }
        done.wait()
        if let error = outcome.withLock({ $0 }) {
            close()
            throw error
        }
    }

    /// Whether the connection is ready for commands right now.
    public var isReady: Bool { state.shared.withLock { $0.ready } }

    /// Commands and publications dropped because the buffer was full or the connection was down.
    public var droppedCount: Int { state.shared.withLock { $0.dropped } }

    /// Sends a command (pipelined: it does not wait for earlier answers) and calls `reply` with
    /// Redis's answer; an error reply arrives as ``RedisError/commandFailed(_:)``.
    /// - Parameters:
    ///   - command: the command and its arguments, e.g. `["SET", "key", "value"]`.
    ///   - reply: called once on the loop thread, or at once (on the caller's thread) with
    ///     ``RedisError/notConnected`` or ``RedisError/bufferFull(limit:)``.
    public func send(_ command: [String], reply: @escaping ReplyHandler) {
        var encoded: [UInt8] = []
        RESPEncoder.appendCommand(command, to: &encoded)
        if let error = enqueue(encoded.count, reply: reply, { $0.append(contentsOf: encoded) }) { reply(.failure(error)) }
    }

    /// Sends a command and awaits its answer.
    /// - Throws: ``RedisError/commandFailed(_:)`` for an error reply, ``RedisError/notConnected``,
    ///   ``RedisError/bufferFull(limit:)``.
    public func send(_ command: [String]) async throws -> RESPValue {
        try await withCheckedThrowingContinuation { continuation in
            send(command) { continuation.resume(with: $0) }
        }
    }

    /// `PUBLISH channel message`, pipelined; the reply (the receiver count) is not reported.
    /// - Returns: false when it was dropped: not connected, or the buffer is full.
    @discardableResult
    public func publish(channel: [UInt8], message: [UInt8]) -> Bool {
        let size = channel.count + message.count + 40
        return enqueue(size, reply: nil) { output in
            RESPEncoder.appendArrayHeader(3, to: &output)
            Self.publishCommand.withUnsafeBytes { RESPEncoder.appendBulk($0, to: &output) }
            channel.withUnsafeBytes { RESPEncoder.appendBulk($0, to: &output) }
            message.withUnsafeBytes { RESPEncoder.appendBulk($0, to: &output) }
        } == nil
    }

    /// Subscribes to `channel` now (if connected) and after every reconnection. Call before
    /// ``connect()`` to be subscribed when it returns.
    public func subscribe(_ channel: [UInt8]) {
        addSubscription(channel, pattern: false)
    }

    /// Subscribes to channels matching the glob-style `pattern` (`PSUBSCRIBE`), now and after
    /// every reconnection; messages carry the pattern.
    public func psubscribe(_ pattern: [UInt8]) {
        addSubscription(pattern, pattern: true)
    }

    /// Closes the connection for good; pending replies fail with ``RedisError/notConnected``.
    public func close() {
        let pending = state.shared.withLock { shared -> [ReplyHandler] in
            shared.closed = true
            shared.ready = false
            return Self.takeReplies(&shared)
        }
        for reply in pending { reply(.failure(.notConnected)) }
        loop.execute { [driver] in driver.shutDown() }
    }

    private static let publishCommand = Array("PUBLISH".utf8)

    private func addSubscription(_ name: [UInt8], pattern: Bool) {
        let wake = state.shared.withLock { shared -> Bool in
            if pattern {
                guard !shared.patterns.contains(name) else { return false }
                shared.patterns.append(name)
            } else {
                guard !shared.channels.contains(name) else { return false }
                shared.channels.append(name)
            }
            guard shared.ready else { return false }
            RESPEncoder.appendCommand([Array((pattern ? "PSUBSCRIBE" : "SUBSCRIBE").utf8), name], to: &shared.output)
            return Self.scheduleFlush(&shared)
        }
        if wake { loop.execute { [driver] in driver.flush() } }
    }

    /// Appends an encoded command under the lock; nil when queued, else why it was dropped.
    private func enqueue(_ size: Int, reply: ReplyHandler?, _ append: (inout [UInt8]) -> Void) -> RedisError? {
        let limit = configuration.maxBufferedBytes
        let (error, wake, reportFull) = state.shared.withLock { shared -> (RedisError?, Bool, Bool) in
            guard shared.ready else {
                shared.dropped += 1
                return (.notConnected, false, false)
            }
            guard shared.output.count + size <= limit else {
                shared.dropped += 1
                let first = !shared.fullEpisode
                shared.fullEpisode = true
                return (.bufferFull(limit: limit), false, first)
            }
            append(&shared.output)
            shared.replies.append(reply)
            return (nil, Self.scheduleFlush(&shared), false)
        }
        if wake { loop.execute { [driver] in driver.flush() } }
        if reportFull { loop.execute { [driver] in driver.onEvent(.bufferFull) } }
        return error
    }

    /// Marks a flush as scheduled; true when the caller must schedule it.
    private static func scheduleFlush(_ shared: inout Shared) -> Bool {
        guard !shared.flushScheduled else { return false }
        shared.flushScheduled = true
        return true
    }

    fileprivate static func takeReplies(_ shared: inout Shared) -> [ReplyHandler] {
        let pending = shared.replies[shared.replyHead...].compactMap { $0 }
        shared.replies = []
        shared.replyHead = 0
        return pending
    }
}

/// The state a ``RedisConnection`` shares between its callers' threads and its loop: what
/// waits to be written, the reply handlers in command order, and the subscriptions.
private final class ConnectionState: Sendable {
    let shared = Mutex(RedisConnection.Shared())

    private static func takeReplies(_ shared: inout RedisConnection.Shared) -> [RedisConnection.ReplyHandler] {
        RedisConnection.takeReplies(&shared)
    }


    /// Takes the bytes waiting to be written; clears the flush flag.
    func takeOutput() -> [UInt8] {
        shared.withLock { shared in
            shared.flushScheduled = false
            shared.fullEpisode = false
            var taken: [UInt8] = []
            swap(&taken, &shared.output)
            return taken
        }
    }

    /// The oldest reply entry, removed: nil when none waits, `.some(nil)` for a `PUBLISH`.
    func popReply() -> RedisConnection.ReplyHandler?? {
        shared.withLock { shared in
            guard shared.replyHead < shared.replies.count else { return nil }
            let reply = shared.replies[shared.replyHead]
            shared.replyHead += 1
            if shared.replyHead > 1024 && shared.replyHead * 2 > shared.replies.count {
                shared.replies.removeSubrange(0..<shared.replyHead)
                shared.replyHead = 0
            }
            return reply
        }
    }

    /// The subscriptions to restore on a new connection.
    var subscriptions: (channels: [[UInt8]], patterns: [[UInt8]]) {
        shared.withLock { ($0.channels, $0.patterns) }
    }

    /// The handshake is done: accept commands; subscribe to what was added meanwhile.
    /// - Returns: false when the connection was closed meanwhile.
    func becomeReady(subscribed: (channels: [[UInt8]], patterns: [[UInt8]])) -> Bool {
        shared.withLock { shared in
            guard !shared.closed else { return false }
            shared.ready = true
            shared.fullEpisode = false
            for channel in shared.channels where !subscribed.channels.contains(channel) {
                RESPEncoder.appendCommand([Array("SUBSCRIBE".utf8), channel], to: &shared.output)
            }
            for pattern in shared.patterns where !subscribed.patterns.contains(pattern) {
                RESPEncoder.appendCommand([Array("PSUBSCRIBE".utf8), pattern], to: &shared.output)
            }
            shared.flushScheduled = true
            return true
        }
    }

    /// The connection is gone: stop accepting commands, drop what waits, fail the replies.
    func becomeDisconnected() {
        let pending = shared.withLock { shared -> [RedisConnection.ReplyHandler] in
            shared.ready = false
            shared.output = []
            shared.flushScheduled = false
            return Self.takeReplies(&shared)
        }
        for reply in pending { reply(.failure(.notConnected)) }
    }

    var isClosed: Bool { shared.withLock { $0.closed } }
}

/// The loop-confined half of a ``RedisConnection``: the socket, the parser, the handshake and
/// the reconnection schedule.
///
/// `@unchecked Sendable`: every stored `var` is touched only on `loop`'s thread (methods are
/// called from `loop.execute` or the stream's callbacks); `connection` is the thread-safe half.
private final class Driver: @unchecked Sendable {
    private enum Phase {
        case idle
        case connecting
        /// Connected; waiting for the answers to the set-up commands.
        case handshaking
        case ready
        /// Waiting for the backoff delay before the next attempt.
        case waiting
        case closed
    }

    /// One set-up command whose reply is awaited in order.
    private enum Step { case auth, select, ping }

    let configuration: RedisConnection.Configuration
    let loop: EventLoop
    let onMessage: @Sendable (RedisPubSubMessage) -> Void
    let onEvent: @Sendable (RedisConnection.Event) -> Void
    let connection: ConnectionState

    private var phase = Phase.idle
    private var stream: TCPStream?
    private var parser: RESPParser
    private var steps: [Step] = []
    private var confirmationsAwaited = 0
    private var subscribed: (channels: [[UInt8]], patterns: [[UInt8]]) = ([], [])
    private var backoff: Backoff
    /// Identifies the current attempt: timers of an older attempt see a different value.
    private var attempt = 0
    /// Set until the first connection is ready or has failed: the caller of `connect()` waits.
    private var firstResult: ((RedisError?) -> Void)?
    /// Whether the owner has been told about the current outage.
    private var outageReported = false

    init(configuration: RedisConnection.Configuration, loop: EventLoop, state: ConnectionState,
         onMessage: @escaping @Sendable (RedisPubSubMessage) -> Void,
         onEvent: @escaping @Sendable (RedisConnection.Event) -> Void) {
        self.configuration = configuration
        self.loop = loop
        self.onMessage = onMessage
        self.onEvent = onEvent
        connection = state
        parser = RESPParser(maxValueBytes: configuration.maxReplyBytes)
        backoff = configuration.backoff
    }

    func start(_ result: @escaping (RedisError?) -> Void) {
        guard phase == .idle else { return result(.notConnected) }
        firstResult = result
        attemptConnection()
    }

    func shutDown() {
        phase = .closed
        attempt += 1
        stream?.close()
        stream = nil
        connection.becomeDisconnected()
        firstResult?(.notConnected)
        firstResult = nil
    }

    private func attemptConnection() {
        guard !connection.isClosed else { return shutDown() }
        attempt += 1
        let current = attempt
        phase = .connecting
        parser = RESPParser(maxValueBytes: configuration.maxReplyBytes)
        let url = configuration.url
        let stream = TCPStream(loop: loop) { [self] stream, event in handle(event, from: stream) }
        self.stream = stream
        // The deadline covers the TCP connect and the set-up commands together.
        loop.execute(after: configuration.connectTimeout) { [self] in
            guard attempt == current, phase == .connecting || phase == .handshaking else { return }
            fail(.connectTimeout(host: url.host, port: url.port))
        }
        stream.connect(host: url.host, port: url.port, timeout: configuration.connectTimeout)
    }

    private func handle(_ event: TCPStream.Event, from source: TCPStream) {
        guard source === stream else { return }
        switch event {
        case .connected:
            beginHandshake()
        case .received(let bytes):
            parser.feed(bytes)
            do {
                while phase == .handshaking || phase == .ready, let value = try parser.next() {
                    if phase == .handshaking { handshakeReply(value) } else { reply(value) }
                }
            } catch let error as RedisError {
                fail(error)
            } catch {
                fail(.protocolError(String(describing: error)))
            }
        case .drained:
            flush()
        case .closed(let code):
            let url = configuration.url
            stream = nil
            if code == ETIMEDOUT && phase == .connecting {
                fail(.connectTimeout(host: url.host, port: url.port))
            } else if phase == .connecting {
                fail(.connectFailed(host: url.host, port: url.port, errno: code))
            } else {
                fail(.connectionLost(host: url.host, port: url.port, errno: code))
            }
        }
    }

    private func beginHandshake() {
        phase = .handshaking
        let url = configuration.url
        var output: [UInt8] = []
        steps = []
        if let password = url.password {
            RESPEncoder.appendCommand(url.user.map { ["AUTH", $0, password] } ?? ["AUTH", password], to: &output)
            steps.append(.auth)
        }
        if url.database != 0 {
            RESPEncoder.appendCommand(["SELECT", String(url.database)], to: &output)
            steps.append(.select)
        }
        // PING proves the server speaks RESP and needs no credentials beyond those given.
        RESPEncoder.appendCommand(["PING"], to: &output)
        steps.append(.ping)
        subscribed = connection.subscriptions
        confirmationsAwaited = subscribed.channels.count + subscribed.patterns.count
        if !subscribed.channels.isEmpty {
            RESPEncoder.appendCommand([Array("SUBSCRIBE".utf8)] + subscribed.channels, to: &output)
        }
        if !subscribed.patterns.isEmpty {
            RESPEncoder.appendCommand([Array("PSUBSCRIBE".utf8)] + subscribed.patterns, to: &output)
        }
        stream?.write(output)
    }

    private func handshakeReply(_ value: RESPValue) {
        if !steps.isEmpty {
            let step = steps.removeFirst()
            if case .error(let message) = value {
                switch step {
                case .auth: return fail(.authFailed(message))
                case .select: return fail(.selectFailed(message))
                case .ping:
                    return fail(message.hasPrefix("NOAUTH") ? .authFailed(message) : .commandFailed(message))
                }
            }
        } else if case .array(let items?) = value, let kind = items.first?.string, kind == "subscribe" || kind == "psubscribe" {
            confirmationsAwaited -= 1
        } else if case .error(let message) = value {
            return fail(message.hasPrefix("NOAUTH") ? .authFailed(message) : .commandFailed(message))
        }
        if steps.isEmpty && confirmationsAwaited <= 0 { becomeReady() }
    }

    private func becomeReady() {
        guard connection.becomeReady(subscribed: subscribed) else { return shutDown() }
        phase = .ready
        backoff.reset()
        if let firstResult {
            self.firstResult = nil
            firstResult(nil)
        } else if outageReported {
            outageReported = false
            onEvent(.reconnected)
        }
        flush()
    }

    /// A reply or push on a ready connection.
    private func reply(_ value: RESPValue) {
        if case .array(let items?) = value, !subscribed.channels.isEmpty || !subscribed.patterns.isEmpty || isPush(items) {
            if let message = RedisPubSubMessage(push: items) { onMessage(message) }
            return  // (un)subscribe confirmations of runtime subscriptions
        }
        guard let entry = connection.popReply() else { return fail(.protocolError("a reply to no command")) }
        guard let handler = entry else { return }  // a PUBLISH reply nobody awaits
        if case .error(let message) = value { handler(.failure(.commandFailed(message))) } else { handler(.success(value)) }
    }

    /// A connection that subscribed after connecting is in subscribe mode too.
    private func isPush(_ items: [RESPValue]) -> Bool {
        guard let kind = items.first?.string else { return false }
        switch kind {
        case "message", "pmessage", "subscribe", "psubscribe", "unsubscribe", "punsubscribe":
            let (channels, patterns) = connection.subscriptions
            if !channels.isEmpty || !patterns.isEmpty {
                subscribed = (channels, patterns)
                return true
            }
            return false
        default: return false
        }
    }

    /// Writes what waits, unless the socket still holds an earlier batch (then on `.drained`).
    func flush() {
        guard phase == .ready, let stream, stream.bufferedBytes == 0 else { return }
        let bytes = connection.takeOutput()
        if !bytes.isEmpty { stream.write(bytes) }
    }

    /// The attempt failed or the connection was lost.
    private func fail(_ error: RedisError) {
        guard phase != .closed, phase != .waiting, phase != .idle else { return }
        stream?.close()
        stream = nil
        connection.becomeDisconnected()
        if let firstResult {
            // The first connection: the caller of connect() gets the error; no retries.
            self.firstResult = nil
            phase = .closed
            firstResult(error)
            return
        }
        if !outageReported {
            outageReported = true
            onEvent(.disconnected(error))
        }
        guard !connection.isClosed else { return shutDown() }
        phase = .waiting
        attempt += 1
        let current = attempt
        var random = SystemRandomNumberGenerator()
        let delay = backoff.next(unitRandom: Double(random.next() >> 11) * 0x1p-53)
        loop.execute(after: delay) { [self] in
            guard attempt == current, phase == .waiting else { return }
            attemptConnection()
        }
    }
}
