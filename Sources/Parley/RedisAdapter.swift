import Foundation
import ParleyProtocol
import ParleyRedis
import ParleyWebSocket
import Synchronization

/// The cross-node side of broadcasting over Redis pub/sub (``ClusterAdapter/redis(url:channelPrefix:)``).
///
/// Every broadcast is delivered locally first; then, unless it is `local`, its routing and
/// encoded envelope (a ``ClusterMessage``) are published on the namespace's channel
/// `<prefix>#<namespace>#`. Every node subscribes to the channels of its namespaces, skips its
/// own messages (by node id), and delivers the others to its own sockets with the same
/// room/except rules. Rooms stay per node: a socket's rooms live on the node it is connected to.
///
/// Two connections on the server's first event loop: one publishes (pipelined), one subscribes
/// (messages for that loop's sockets are written without a thread hand-off). When Redis
/// is down, local delivery goes on, publications are dropped (counted), the outage is logged
/// once, and both connections come back by themselves.
final class RedisAdapter: Sendable {
    private struct State {
        var publisher: RedisConnection?
        var subscriber: RedisConnection?
        /// Namespaces by channel, for incoming messages.
        var namespaces: [[UInt8]: Namespace] = [:]
        /// Connections currently down (publisher, subscriber) and when the outage began.
        var down: Set<String> = []
        var outageStart: ContinuousClock.Instant?
        var droppedAtOutageStart = 0
    }

    let url: Result<RedisURL, RedisError>
    let channelPrefix: String
    /// This node's id: 16 random bytes, in every message it publishes.
    let nodeID: [UInt8]
    private let state = Mutex(State())
    /// Debug logging (the server's verbose flag).
    private let log: @Sendable (@autoclosure () -> String) -> Void
    /// Operational messages (outages), written whether verbose or not: standard error by default.
    private let alert: @Sendable (String) -> Void

    /// How long `start` waits for Redis. 5 s: see ``RedisConnection/Configuration/connectTimeout``.
    static let connectTimeout: Duration = .seconds(5)

    init(url: String, channelPrefix: String, log: @escaping @Sendable (@autoclosure () -> String) -> Void,
         alert: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.alert = alert
        self.url = Result { try RedisURL(url) }.mapError { $0 as? RedisError ?? .invalidURL(String(describing: $0)) }
        self.channelPrefix = channelPrefix
        self.log = log
        var generator = SystemRandomNumberGenerator()
        nodeID = (0..<ClusterMessage.nodeIDLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// `<prefix>#<namespace>#`, as Socket.IO's Redis adapter names its channels.
    func channel(for namespace: String) -> [UInt8] {
        Array("\(channelPrefix)#\(namespace)#".utf8)
    }

    /// Listens to `namespace`'s channel (now, or from ``start()``).
    func register(_ namespace: Namespace) {
        let channel = channel(for: namespace.name)
        let subscriber = state.withLock { state -> RedisConnection? in
            state.namespaces[channel] = namespace
            return state.subscriber
        }
        subscriber?.subscribe(channel)
    }

    /// Connects both connections on `loop` and subscribes, blocking until done.
    /// - Throws: ``RedisError``: a bad URL, a refused connection, refused `AUTH` or `SELECT`, a timeout.
    func start(on loop: EventLoop) throws {
        let url = try self.url.get()
        var configuration = RedisConnection.Configuration(url: url)
        configuration.connectTimeout = Self.connectTimeout
        let publisher = RedisConnection(configuration: configuration, loop: loop, onEvent: { [weak self] event in
            self?.connectionEvent("publisher", event)
        })
        let subscriber = RedisConnection(configuration: configuration, loop: loop, onMessage: { [weak self] message in
            self?.receive(message)
        }, onEvent: { [weak self] event in
            self?.connectionEvent("subscriber", event)
        })
        let channels = state.withLock { state -> [[UInt8]] in
            state.publisher = publisher
            state.subscriber = subscriber
            return Array(state.namespaces.keys)
        }
        for channel in channels { subscriber.subscribe(channel) }
        do {
            try subscriber.connect()
            try publisher.connect()
        } catch {
            close()
            throw error
        }
        log("parley: redis adapter on \(url), node \(nodeID.prefix(4).map { String($0, radix: 16) }.joined())")
    }

    /// Closes both connections (on their loop, before it stops).
    func close() {
        let (publisher, subscriber) = state.withLock { state in
            defer { state.publisher = nil; state.subscriber = nil }
            return (state.publisher, state.subscriber)
        }
        publisher?.close()
        subscriber?.close()
    }

    /// Whether both connections are up (false before ``start(on:)`` and during an outage).
    var isConnected: Bool { state.withLock { $0.publisher != nil && $0.down.isEmpty } }

    /// Publications dropped since start (Redis down or the buffer full).
    var droppedCount: Int { state.withLock { $0.publisher }?.droppedCount ?? 0 }

    // MARK: Publishing

    /// Publishes a broadcast operation that was just applied locally.
    func publish(_ broadcast: BroadcastOperator, _ operation: ClusterMessage.Operation) {
        guard let publisher = state.withLock({ $0.publisher }) else { return }
        let message = ClusterMessage(origin: nodeID, rooms: Array(broadcast.rooms), exceptRooms: Array(broadcast.exceptRooms),
                                     exceptSocket: broadcast.exceptSocket, isVolatile: broadcast.isVolatile, operation: operation)
        guard let bytes = message.encoded() else {
            log("parley: broadcast not published: a room name over 65,535 bytes or more than 65,535 rooms")
            return
        }
        if !publisher.publish(channel: broadcast.namespace.clusterChannel ?? channel(for: broadcast.namespace.name), message: bytes) {
            broadcast.namespace.counters.clusterPublishDropped()
        }
    }

    // MARK: Receiving (on the Redis loop)

    private func receive(_ pubsub: RedisPubSubMessage) {
        guard !ClusterMessage.isFrom(nodeID, pubsub.payload) else { return }  // our own publication
        guard let namespace = state.withLock({ $0.namespaces[pubsub.channel] }) else { return }
        let message: ClusterMessage
        do {
            message = try ClusterMessage(decoding: pubsub.payload)
        } catch {
            log("parley: ignored a message on \(String(decoding: pubsub.channel, as: UTF8.self)): \(error)")
            return
        }
        var broadcast = BroadcastOperator(namespace: namespace)
        broadcast.rooms = Set(message.rooms)
        broadcast.exceptRooms = Set(message.exceptRooms)
        broadcast.exceptSocket = message.exceptSocket
        broadcast.isVolatile = message.isVolatile
        broadcast.applyLocally(message.operation)
    }

    // MARK: Outages

    /// Logs an outage once when the first connection goes down, and once when both are back.
    private func connectionEvent(_ name: String, _ event: RedisConnection.Event) {
        let url = (try? self.url.get())?.description ?? "redis"
        switch event {
        case .disconnected(let error):
            let first = state.withLock { state -> Bool in
                let first = state.down.isEmpty
                state.down.insert(name)
                if first {
                    state.outageStart = .now
                    state.droppedAtOutageStart = state.publisher?.droppedCount ?? 0
                }
                return first
            }
            if first {
                alert("parley: \(error). Local delivery continues; cross-node broadcasts are dropped until Redis at \(url) is back (retrying)")
            }
        case .reconnected:
            let back = state.withLock { state -> (Duration, Int)? in
                guard state.down.remove(name) != nil, state.down.isEmpty, let start = state.outageStart else { return nil }
                state.outageStart = nil
                return (.now - start, (state.publisher?.droppedCount ?? 0) - state.droppedAtOutageStart)
            }
            if let (duration, dropped) = back {
                let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
                alert("parley: Redis at \(url) is back after \(String(format: "%.1f", seconds)) s; \(dropped) cross-node broadcasts were dropped meanwhile")
            }
        case .bufferFull:
            alert("parley: Redis output buffer full (Redis too slow?): cross-node broadcasts are being dropped")
        }
    }
}
