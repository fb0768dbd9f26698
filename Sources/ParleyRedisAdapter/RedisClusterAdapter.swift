import Dispatch
import Foundation
import Parley
import ParleyIO
import ParleyRedis
import Synchronization

/// A ``ClusterAdapter`` on Redis pub/sub: servers given the same Redis share broadcasts and room
/// operations, as Socket.IO's Redis adapter does.
///
/// ```swift
/// import Parley
/// import ParleyRedisAdapter
///
/// var configuration = Server.Configuration(port: 8887)
/// configuration.clusterAdapter = RedisClusterAdapter(url: "redis://10.0.0.5:6379")   // the same on every node
/// let io = Server(configuration)
/// try io.start()   // throws on a bad URL, a refused connection or refused AUTH/SELECT
/// ```
///
/// Every operation the server publishes is encoded (a ``ClusterMessage``, Protocol.md "Scale-out
/// over Redis") and published on the namespace's channel `<prefix>#<namespace>#`. Every node
/// subscribes to the channels of its namespaces, skips its own messages (by node id), and hands
/// the others to its server, which applies them to its own sockets. Rooms stay per node.
///
/// Two connections on the server's first event loop: one publishes (pipelined), one subscribes
/// (messages for that loop's sockets are written without a thread hand-off). When Redis is
/// down, local delivery goes on, publications are dropped (``droppedCount``), the outage is
/// reported once, and both connections come back by themselves. One adapter per server.
///
/// With ``Server/Configuration/connectionStateRecovery`` on, it is also the cluster's
/// ``ClusterRecoveryStore``: kept events and room operations go through a Redis stream per
/// namespace (`<prefix>#<namespace>#stream`, read by a third connection) instead of pub/sub, and
/// the sessions of lost connections are Redis keys, so a client recovers on any node
/// (Protocol.md 11.1).
public final class RedisClusterAdapter: ClusterAdapter, CustomStringConvertible {
    struct State {
        var publisher: RedisConnection?
        var subscriber: RedisConnection?
        /// Reads the namespaces' streams (connection state recovery only).
        var reader: RedisConnection?
        var context: ClusterContext?
        /// Channels by namespace name, for publishing; namespace names by channel, for receiving.
        var channels: [String: [UInt8]] = [:]
        var namespaces: [[UInt8]: String] = [:]
        /// Connections currently down (publisher, subscriber) and when the outage began.
        var down: Set<String> = []
        var outageStart: ContinuousClock.Instant?
        var droppedAtOutageStart = 0
        /// Connection state recovery: the ordered log (a stream per namespace) in use.
        var log = OrderedLog()
    }

    /// The parsed URL, or why it could not be parsed (thrown by ``start(_:)``).
    let url: Result<RedisURL, RedisError>
    /// TLS of a `rediss://` URL; nil: the system's CAs, the host name verified.
    let tls: TLSConfiguration?
    /// The start of every channel name.
    public let channelPrefix: String
    /// This node's id: 16 random bytes, in every message it publishes.
    let nodeID: [UInt8]
    let state = Mutex(State())

    /// How long ``start(_:)`` waits for Redis. 5 s: see ``RedisConnection/Configuration/connectTimeout``.
    static let connectTimeout: Duration = .seconds(5)

    /// Creates an adapter; nothing connects before the server starts it.
    /// - Parameters:
    ///   - url: `redis://[[user]:password@]host[:port][/db]`, or `rediss://...` for TLS; a bad
    ///     one makes ``Server/start()`` throw.
    ///   - tls: for `rediss://`: the CA that issued Redis's certificate (managed services publish
    ///     theirs), a client certificate. nil by default: the system's CAs, the host verified.
    ///   - channelPrefix: the start of every channel name (`parley#/#`). `parley` by default.
    ///     Redis pub/sub ignores the database number, so separate clusters sharing one Redis
    ///     need separate prefixes.
    ///
    /// ```swift
    /// let adapter = RedisClusterAdapter(url: "rediss://:secret@redis.example.com:6380",
    ///                                   tls: TLSConfiguration(trust: .certificateAuthorities(.file("redis-ca.pem"))))
    /// ```
    public init(url: String, tls: TLSConfiguration? = nil, channelPrefix: String = "parley") {
        self.url = Result { try RedisURL(url) }.mapError { $0 as? RedisError ?? .invalidURL(String(describing: $0)) }
        self.tls = tls
        self.channelPrefix = channelPrefix
        var generator = SystemRandomNumberGenerator()
        nodeID = (0..<ClusterMessage.nodeIDLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// `Redis at redis://host:port` (without the password).
    public var description: String {
        switch url {
        case .success(let url): return "Redis at \(url)"
        case .failure(let error): return "Redis (\(error))"
        }
    }

    /// Publications dropped since start (Redis down or the output buffer full).
    public var droppedCount: Int { state.withLock { $0.publisher }?.droppedCount ?? 0 }

    /// `redis`, connected while both the publishing and the subscribing connection are up,
    /// ``droppedCount`` and ``missedCount``.
    public var status: Server.Metrics.Cluster {
        let (publisher, connected, missed) = state.withLock { ($0.publisher, $0.publisher != nil && $0.down.isEmpty, $0.log.missed) }
        return Server.Metrics.Cluster(kind: "redis", connected: connected, publishesDropped: publisher?.droppedCount ?? 0,
                                      entriesMissed: missed)
    }

    /// `<prefix>#<namespace>#`, as Socket.IO's Redis adapter names its channels.
    func channel(for namespace: String) -> [UInt8] {
        Array("\(channelPrefix)#\(namespace)#".utf8)
    }

    // MARK: ClusterAdapter

    /// Listens to `namespace`'s channel (now, or from ``start(_:)``).
    public func register(namespace: String) {
        let channel = channel(for: namespace)
        let (subscriber, reading) = state.withLock { state -> (RedisConnection?, Bool) in
            state.channels[namespace] = channel
            state.namespaces[channel] = namespace
            return (state.subscriber, state.reader != nil && state.log.positions[namespace] == nil)
        }
        subscriber?.subscribe(channel)
        if reading { startReading([namespace]) }
    }

    /// Connects both connections on `context.loop` and subscribes, blocking until done (5 s at most).
    /// - Throws: ``RedisError``: a bad URL, a refused connection, refused `AUTH` or `SELECT`, a
    ///   timeout, a refused TLS certificate.
    public func start(_ context: ClusterContext) throws {
        let url = try self.url.get()
        var configuration = RedisConnection.Configuration(url: url)
        configuration.connectTimeout = Self.connectTimeout
        configuration.tls = tls
        let publisher = RedisConnection(configuration: configuration, loop: context.loop, onEvent: { [weak self] event in
            self?.connectionEvent("publisher", event)
        })
        let subscriber = RedisConnection(configuration: configuration, loop: context.loop, onMessage: { [weak self] message in
            self?.receive(message)
        }, onEvent: { [weak self] event in
            self?.connectionEvent("subscriber", event)
        })
        // With connection state recovery, a third connection reads the streams (Protocol.md 11.1).
        let reader = state.withLock { $0.log.enabled } ? RedisConnection(configuration: configuration, loop: context.loop, onEvent: { [weak self] event in
            self?.connectionEvent("reader", event)
        }) : nil
        let channels = state.withLock { state -> [[UInt8]] in
            state.publisher = publisher
            state.subscriber = subscriber
            state.reader = reader
            state.context = context
            return Array(state.namespaces.keys)
        }
        for channel in channels { subscriber.subscribe(channel) }
        do {
            try subscriber.connect()
            try publisher.connect()
            try reader?.connect()
        } catch {
            stop()
            throw error
        }
        if reader != nil {
            // Where each stream ends, before the server listens (5 s at most).
            let answered = DispatchSemaphore(value: 0)
            startReading(state.withLock { Array($0.channels.keys) }) { answered.signal() }
            _ = answered.wait(timeout: .now() + .seconds(5))
        }
        context.debug("parley: redis adapter on \(url), node \(nodeID.prefix(4).map { String($0, radix: 16) }.joined())")
    }

    /// Closes both connections (on their loop, before it stops).
    public func stop() {
        let (publisher, subscriber, reader) = state.withLock { state in
            defer { state.publisher = nil; state.subscriber = nil; state.reader = nil; state.context = nil }
            return (state.publisher, state.subscriber, state.reader)
        }
        publisher?.close()
        subscriber?.close()
        reader?.close()
    }

    /// Publishes an operation on its namespace's channel; dropped (and counted) while Redis is down.
    public func publish(_ operation: ClusterOperation) {
        let namespace = operation.selection.namespace
        let (publisher, context, registered) = state.withLock { ($0.publisher, $0.context, $0.channels[namespace]) }
        guard let publisher else { return }
        guard let bytes = ClusterMessage(origin: nodeID, operation: operation).encoded() else {
            context?.debug("parley: broadcast not published: a room name over 65,535 bytes or more than 65,535 rooms")
            return
        }
        publisher.publish(channel: registered ?? channel(for: namespace), message: bytes)
    }

    // MARK: Receiving (on the Redis loop)

    private func receive(_ pubsub: RedisPubSubMessage) {
        guard !ClusterMessage.isFrom(nodeID, pubsub.payload) else { return }  // our own publication
        let (namespace, context) = state.withLock { ($0.namespaces[pubsub.channel], $0.context) }
        guard let namespace, let context else { return }
        let message: ClusterMessage
        do {
            message = try ClusterMessage(decoding: pubsub.payload, namespace: namespace)
        } catch {
            context.debug("parley: ignored a message on \(String(decoding: pubsub.channel, as: UTF8.self)): \(error)")
            return
        }
        context.apply(message.operation)
    }

    // MARK: Outages

    /// Reports an outage once when the first connection goes down, and once when both are back.
    private func connectionEvent(_ name: String, _ event: RedisConnection.Event) {
        let url = (try? self.url.get())?.description ?? "redis"
        switch event {
        case .disconnected(let error):
            let (first, context) = state.withLock { state -> (Bool, ClusterContext?) in
                let first = state.down.isEmpty
                state.down.insert(name)
                if first {
                    state.outageStart = .now
                    state.droppedAtOutageStart = state.publisher?.droppedCount ?? 0
                }
                return (first, state.context)
            }
            if first {
                context?.warning("parley: \(error). Local delivery continues; cross-node broadcasts are dropped until Redis at \(url) is back (retrying)")
            }
        case .reconnected:
            if name == "reader" { readNext() }
            if name == "publisher" { startReadingUnread() }
            let (back, context) = state.withLock { state -> ((Duration, Int)?, ClusterContext?) in
                guard state.down.remove(name) != nil, state.down.isEmpty, let start = state.outageStart else { return (nil, state.context) }
                state.outageStart = nil
                return ((.now - start, (state.publisher?.droppedCount ?? 0) - state.droppedAtOutageStart), state.context)
            }
            if let (duration, dropped) = back {
                let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
                context?.warning("parley: Redis at \(url) is back after \(String(format: "%.1f", seconds)) s; \(dropped) cross-node broadcasts were dropped meanwhile")
            }
        case .bufferFull:
            state.withLock { $0.context }?.warning("parley: Redis output buffer full (Redis too slow?): cross-node broadcasts are being dropped")
        }
    }
}
