/// What the connections of one server on one event loop share, held by each through one
/// reference rather than copied into each: the limits and timers, the loop's counters, the
/// server's buffer budget and the hook that frees a client slot. A client connection has one
/// of its own.
final class ConnectionSettings: Sendable {
    let configuration: WebSocket.Configuration
    /// The server loop's counters (nil for a client connection): bytes per read and per write
    /// batch, messages, slow-consumer drops.
    let counters: ConnectionCounters?
    /// The server's account of buffered peer data (nil for a client connection); see ``BufferBudget``.
    let budget: BufferBudget?
    /// Called once per connection when it is gone, after its close handler is taken and
    /// before it runs (the server frees the client's slot).
    let onFinalize: (@Sendable () -> Void)?
    /// The subprotocols a connection may have negotiated: the server's, or a client's own one;
    /// a connection keeps the index of its own.
    let subprotocols: [String]

    init(configuration: WebSocket.Configuration, counters: ConnectionCounters? = nil, budget: BufferBudget? = nil,
         subprotocols: [String] = [], onFinalize: (@Sendable () -> Void)? = nil) {
        self.configuration = configuration
        self.counters = counters
        self.budget = budget
        self.subprotocols = subprotocols
        self.onFinalize = onFinalize
    }

    /// These settings for a connection whose subprotocol is not among ``subprotocols``.
    func naming(subprotocol: String) -> ConnectionSettings {
        ConnectionSettings(configuration: configuration, counters: counters, budget: budget,
                           subprotocols: [subprotocol], onFinalize: onFinalize)
    }
}
