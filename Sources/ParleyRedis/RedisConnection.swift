import Dispatch
import ParleyIO
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
/// (``RedisError/notConnected``): nothing is queued for later. Those queued or unanswered when
/// the connection is lost fail the same way, and the publications among them count in
/// ``droppedCount``. ``Event``s tell the owner.
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
        /// Delays between reconnection attempts: from 100 ms (a Redis restart takes about that
        /// long, so the first retry often succeeds) doubling up to 2 s (as ioredis: service
        /// resumes within 2 s of Redis's return, while a dead Redis costs each node one refused
        /// connect per ~2 s), ±50 % jitter (as Socket.IO's client) so that nodes that lost the
        /// same Redis do not reconnect in lock-step.
        public var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2), jitter: 0.5)
        /// TLS of a `rediss://` URL: trust (e.g. the managed service's CA), a client certificate.
        /// nil by default, which is `TLSConfiguration()`: the server's certificate must chain to
        /// the system's CAs and name the URL's host. Unused for `redis://`.
        public var tls: TLSConfiguration?

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

    struct Shared {
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

    /// Commands and publications dropped because the buffer was full or the connection was
    /// down, and those sent without a reply handler (publications) still queued or unanswered
    /// when the connection was lost: Redis may not have them.
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

    /// Sends a command given as raw byte arguments (binary-safe, pipelined: it does not wait
    /// for earlier answers), e.g. `XADD` with a binary field value.
    /// - Parameters:
    ///   - command: the command and its arguments, each a bulk string.
    ///   - reply: called once on the loop thread with Redis's answer (an error reply as
    ///     ``RedisError/commandFailed(_:)``; ``RedisError/notConnected`` if the connection is
    ///     lost first); nil: the answer is read and dropped.
    /// - Returns: nil when queued; else why it was dropped at once (``RedisError/notConnected``,
    ///   ``RedisError/bufferFull(limit:)``), and `reply` is not called.
    @discardableResult
    public func send(bytes command: [[UInt8]], reply: ReplyHandler?) -> RedisError? {
        let size = command.reduce(16) { $0 + $1.count + 16 }
        return enqueue(size, reply: reply) { RESPEncoder.appendCommand(command, to: &$0) }
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

    static func takeReplies(_ shared: inout Shared) -> [ReplyHandler] {
        let pending = shared.replies[shared.replyHead...].compactMap { $0 }
        shared.replies = []
        shared.replyHead = 0
        return pending
    }
}
