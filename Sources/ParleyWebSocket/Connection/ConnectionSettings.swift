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

    init(configuration: WebSocket.Configuration, counters: ConnectionCounters? = nil, budget: BufferBudget? = nil,
         onFinalize: (@Sendable () -> Void)? = nil) {
        self.configuration = configuration
        self.counters = counters
        self.budget = budget
        self.onFinalize = onFinalize
    }
}
