import ParleyIO
import Synchronization

/// The state a ``RedisConnection`` shares between its callers' threads and its loop: what
/// waits to be written, the reply handlers in command order, and the subscriptions.
final class ConnectionState: Sendable {
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
    /// Publications (no reply handler) queued or unanswered count as dropped.
    func becomeDisconnected() {
        let pending = shared.withLock { shared -> [RedisConnection.ReplyHandler] in
            shared.ready = false
            shared.output = []
            shared.flushScheduled = false
            shared.dropped += shared.replies[shared.replyHead...].reduce(0) { $0 + ($1 == nil ? 1 : 0) }
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
final class Driver: @unchecked Sendable {
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
    /// The TLS context of a `rediss://` URL, made at the first attempt and kept for the others.
    private var tlsContext: TLSContext?

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
        var tls: TLSContext?
        if url.tls {
            do throws(TLSError) {
                if tlsContext == nil {
                    tlsContext = try TLSContext(configuration: configuration.tls ?? TLSConfiguration(), role: .client)
                }
                tls = tlsContext
            } catch {
                return fail(.tls(error))
            }
        }
        stream.connect(host: url.host, port: url.port, timeout: configuration.connectTimeout, tls: tls)
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
            if let failure = source.tlsFailure {
                fail(.tls(failure))
            } else if code == ETIMEDOUT && phase == .connecting {
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
        // A subscriber only reads: without probes, a Redis behind a network partition would
        // leave it waiting for ever. 10 s idle + 3 probes 5 s apart: noticed within ~25 s.
        stream?.enableKeepAlive(idleSeconds: 10, intervalSeconds: 5, count: 3)
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
        } else if case .array(let items?) = value, let message = RedisPubSubMessage(push: items) {
            onMessage(message)  // a channel subscribed first already has traffic
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
        let delay = backoff.next(using: &random)
        loop.execute(after: delay) { [self] in
            guard attempt == current, phase == .waiting else { return }
            attemptConnection()
        }
    }
}
