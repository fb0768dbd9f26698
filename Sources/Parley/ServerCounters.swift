import Synchronization

/// The Parley layer's own counters (the transport's are the WebSocket server's): refusals
/// decided above HTTP. Rare events, so one shared set of relaxed atomics. (A cluster engine
/// reports its own drops through ``ClusterAdapter/status``.)
package final class ServerCounters: Sendable {
    private let middlewareRefusals = Atomic<Int>(0)
    private let namespaceRefusals = Atomic<Int>(0)

    package init() {}

    /// A client refused by connection middleware (`connect_error`).
    package func refusedByMiddleware() { middlewareRefusals.wrappingAdd(1, ordering: .relaxed) }

    /// A client that asked for a namespace nobody created.
    package func refusedNamespace() { namespaceRefusals.wrappingAdd(1, ordering: .relaxed) }

    var middleware: Int { middlewareRefusals.load(ordering: .relaxed) }
    var namespace: Int { namespaceRefusals.load(ordering: .relaxed) }
}
