/// How a server shares broadcasts with other servers (``Server/Configuration/adapter``).
///
/// ```swift
/// var configuration = Server.Configuration(port: 8887)
/// configuration.adapter = .redis(url: "redis://10.0.0.5:6379")   // every node uses the same Redis
/// let io = Server(configuration)
/// try io.start()   // throws on a bad URL, a refused connection or refused AUTH/SELECT
/// ```
public enum ClusterAdapter: Sendable, Equatable {
    /// One node: rooms and broadcasts stay in this process (the default).
    case memory
    /// Several nodes on one Redis: broadcasts and room emits are published on Redis pub/sub
    /// and delivered by every node to its own matching sockets.
    /// - Parameters:
    ///   - url: `redis://[[user]:password@]host[:port][/db]`.
    ///   - channelPrefix: the start of every channel name (`parley#/#`). Redis pub/sub ignores
    ///     the database number, so separate clusters sharing one Redis need separate prefixes.
    case redis(url: String, channelPrefix: String = "parley")
}
