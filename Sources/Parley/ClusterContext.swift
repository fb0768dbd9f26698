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
    private let debugSink: (@Sendable (String) -> Void)?
    private let warningSink: @Sendable (String) -> Void

    /// Creates a context; the server makes one for its adapter, tests of an engine make their own.
    /// - Parameters:
    ///   - loop: the event loop for the engine's I/O.
    ///   - apply: applies an operation received from another node.
    ///   - debug: where debug lines go; nil (the default) drops them.
    ///   - warning: where operational messages go (outages, drops). Standard error by default:
    ///     an operator must see them without turning anything on.
    public init(loop: EventLoop, apply: @escaping @Sendable (ClusterOperation) -> Void,
                debug: (@Sendable (String) -> Void)? = nil,
                warning: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.loop = loop
        applyOperation = apply
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

    /// Writes a debug line (when the server is verbose); `message` is not evaluated otherwise.
    public func debug(_ message: @autoclosure () -> String) {
        debugSink?(message())
    }

    /// Writes an operational message: an outage, its end, operations dropped.
    public func warning(_ message: String) {
        warningSink(message)
    }
}
