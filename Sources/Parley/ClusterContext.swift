import Foundation
import ParleyWebSocket

/// What a server gives its ``ClusterAdapter`` in ``ClusterAdapter/start(_:)``: an event loop
/// for the engine's connections, the way back into the server for operations received from
/// other nodes, and the server's logs.
///
/// ```swift
/// func start(_ context: ClusterContext) throws {
///     subscriber.onMessage { bytes in
///         guard let operation = try? decode(bytes) else { return }
///         context.apply(operation)   // this node's matching sockets get it
///     }
/// }
/// ```
public struct ClusterContext: Sendable {
    /// One of the server's event loops (its first). An engine built on ParleyIO runs its
    /// connections here: operations received on it reach that loop's sockets without a
    /// thread hand-off.
    public let loop: EventLoop
    private let applyOperation: @Sendable (ClusterOperation) -> Void
    private let applyOrderedOperation: @Sendable (ClusterOperation, String) -> Void
    private let startOrderedLog: @Sendable (String, String) -> Void
    private let debugSink: (@Sendable (String) -> Void)?
    private let warningSink: @Sendable (String) -> Void

    /// Creates a context; the server makes one for its adapter, tests of an engine make their own.
    /// - Parameters:
    ///   - loop: the event loop for the engine's I/O.
    ///   - apply: applies an operation received from another node.
    ///   - debug: where debug lines go; nil (the default) drops them.
    ///   - warning: where operational messages go (outages, drops). Standard error by default:
    ///     an operator must see them without turning anything on.
    ///   - applyOrdered: applies an entry of a ``ClusterRecoveryStore``'s ordered log; by
    ///     default as `apply` (the offset ignored).
    ///   - orderedLogStarted: a namespace's ordered log is read from an offset on; by default
    ///     nothing.
    public init(loop: EventLoop, apply: @escaping @Sendable (ClusterOperation) -> Void,
                debug: (@Sendable (String) -> Void)? = nil,
                warning: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) },
                applyOrdered: (@Sendable (ClusterOperation, String) -> Void)? = nil,
                orderedLogStarted: @escaping @Sendable (_ namespace: String, _ offset: String) -> Void = { _, _ in }) {
        self.loop = loop
        applyOperation = apply
        applyOrderedOperation = applyOrdered ?? { operation, _ in apply(operation) }
        startOrderedLog = orderedLogStarted
        debugSink = debug
        warningSink = warning
    }

    /// Applies an operation received from another node to this server's sockets: those of
    /// `operation.selection.namespace` that the selection picks (by the same rules as on the
    /// node that published it). Operations of a namespace this server does not have are
    /// ignored. Call from any thread; it does not block.
    /// - Parameter operation: the operation as the other node published it.
    public func apply(_ operation: ClusterOperation) {
        applyOperation(operation)
    }

    /// Applies an entry of a ``ClusterRecoveryStore``'s ordered log, in log order: an emit is
    /// kept in this node's log under `offset` and written, carrying it, to the selected
    /// sockets; a room operation is applied. Call for every entry of a namespace the server
    /// registered, in order, from one thread at a time; emits of this node too, its room
    /// operations not (it applied them already).
    /// - Parameters:
    ///   - operation: the entry.
    ///   - offset: its position in the log, `"MAJOR-MINOR"` (e.g. a Redis stream entry id).
    public func applyOrdered(_ operation: ClusterOperation, offset: String) {
        applyOrderedOperation(operation, offset)
    }

    /// Tells the server where this node starts reading a namespace's ordered log (the last
    /// entry when it started, `"0-0"` for an empty log): its own log covers the offsets from
    /// there on, and a client coming back with an earlier offset is replayed from the store.
    /// Call once per namespace, before the first ``applyOrdered(_:offset:)`` of it.
    /// - Parameters:
    ///   - namespace: its name.
    ///   - offset: the position the node reads after.
    public func orderedLogStarted(namespace: String, at offset: String) {
        startOrderedLog(namespace, offset)
    }

    /// Writes a debug line (when the server is verbose); `message` is not evaluated otherwise.
    public func debug(_ message: @autoclosure () -> String) {
        debugSink?(message())
    }

    /// Writes an operational message: an outage, its end, operations dropped.
    public func warning(_ message: String) {
        warningSink(message)
    }
}
