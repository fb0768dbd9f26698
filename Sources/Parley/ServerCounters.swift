import Synchronization

/// The Parley layer's own counters (the transport's are the WebSocket server's): refusals
/// decided above HTTP, and publications a cluster adapter could not make. Rare events, so one
/// shared set of relaxed atomics.
package final class ServerCounters: Sendable {
    private let middlewareRefusals = Atomic<Int>(0)
    private let namespaceRefusals = Atomic<Int>(0)
    private let clusterPublishesDropped = Atomic<Int>(0)

    package init() {}

    /// A client refused by connection middleware (`connect_error`).
    package func refusedByMiddleware() { middlewareRefusals.wrappingAdd(1, ordering: .relaxed) }

    /// A client that asked for a namespace nobody created.
    package func refusedNamespace() { namespaceRefusals.wrappingAdd(1, ordering: .relaxed) }

    /// For cluster adapters: `count` broadcasts or operations could not be published to the
    /// other nodes (the engine is unreachable, or its output buffer is full). Shown as
    /// ``Server/Metrics/Cluster/publishesDropped``.
    package func clusterPublishDropped(count: Int = 1) {
        clusterPublishesDropped.wrappingAdd(count, ordering: .relaxed)
    }

    var middleware: Int { middlewareRefusals.load(ordering: .relaxed) }
    var namespace: Int { namespaceRefusals.load(ordering: .relaxed) }
    var clusterDropped: Int { clusterPublishesDropped.load(ordering: .relaxed) }
}
