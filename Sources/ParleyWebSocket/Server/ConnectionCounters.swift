import Synchronization

/// What the connections of one event loop have done, for ``WebSocketServer/metrics``.
///
/// One instance per loop, written only by that loop's thread (its acceptor, handshakes and
/// connections), read by anyone: relaxed atomics, never contended, counted per read and per
/// write batch rather than per byte. Readers sum the loops' instances.
package final class ConnectionCounters: Sendable {
    private let messagesReceived = Atomic<Int>(0)
    private let messagesSent = Atomic<Int>(0)
    private let bytesReceived = Atomic<Int>(0)
    private let bytesSent = Atomic<Int>(0)
    private let volatileDropped = Atomic<Int>(0)
    private let sendQueueFullCloses = Atomic<Int>(0)
    private let accepted = Atomic<Int>(0)
    private let handshakeTimeouts = Atomic<Int>(0)
    /// Refusals by HTTP status (``refusalStatuses``), then any other.
    private let refused400 = Atomic<Int>(0)
    private let refused401 = Atomic<Int>(0)
    private let refused403 = Atomic<Int>(0)
    private let refused404 = Atomic<Int>(0)
    private let refused405 = Atomic<Int>(0)
    private let refused426 = Atomic<Int>(0)
    private let refused431 = Atomic<Int>(0)
    private let refused503 = Atomic<Int>(0)
    private let refusedOther = Atomic<Int>(0)
    /// Keeps the next loop's counters (allocated right after, often) off these cache lines:
    /// each loop writes its own at full speed.
    private let padding: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)

    /// The statuses counted one by one; the rest are counted together as `other` (status 0).
    package static let refusalStatuses = [400, 401, 403, 404, 405, 426, 431, 503]

    package init() {}

    @inline(__always) package func received(bytes: Int) { bytesReceived.wrappingAdd(bytes, ordering: .relaxed) }
    @inline(__always) package func sent(bytes: Int) { bytesSent.wrappingAdd(bytes, ordering: .relaxed) }
    @inline(__always) package func receivedMessage() { messagesReceived.wrappingAdd(1, ordering: .relaxed) }
    @inline(__always) package func sentMessage() { messagesSent.wrappingAdd(1, ordering: .relaxed) }
    package func droppedVolatile() { volatileDropped.wrappingAdd(1, ordering: .relaxed) }
    package func closedForFullQueue() { sendQueueFullCloses.wrappingAdd(1, ordering: .relaxed) }
    package func acceptedConnection() { accepted.wrappingAdd(1, ordering: .relaxed) }
    package func handshakeTimedOut() { handshakeTimeouts.wrappingAdd(1, ordering: .relaxed) }

    package func refused(status: Int) {
        switch status {
        case 400: refused400.wrappingAdd(1, ordering: .relaxed)
        case 401: refused401.wrappingAdd(1, ordering: .relaxed)
        case 403: refused403.wrappingAdd(1, ordering: .relaxed)
        case 404: refused404.wrappingAdd(1, ordering: .relaxed)
        case 405: refused405.wrappingAdd(1, ordering: .relaxed)
        case 426: refused426.wrappingAdd(1, ordering: .relaxed)
        case 431: refused431.wrappingAdd(1, ordering: .relaxed)
        case 503: refused503.wrappingAdd(1, ordering: .relaxed)
        default: refusedOther.wrappingAdd(1, ordering: .relaxed)
        }
    }

    /// Adds this loop's counts to `metrics`.
    package func add(to metrics: inout WebSocketServer.Metrics) {
        metrics.messagesReceived += messagesReceived.load(ordering: .relaxed)
        metrics.messagesSent += messagesSent.load(ordering: .relaxed)
        metrics.bytesReceived += bytesReceived.load(ordering: .relaxed)
        metrics.bytesSent += bytesSent.load(ordering: .relaxed)
        metrics.volatileDropped += volatileDropped.load(ordering: .relaxed)
        metrics.sendQueueFullCloses += sendQueueFullCloses.load(ordering: .relaxed)
        metrics.connectionsAccepted += accepted.load(ordering: .relaxed)
        metrics.handshakeTimeouts += handshakeTimeouts.load(ordering: .relaxed)
        let counts = [refused400.load(ordering: .relaxed), refused401.load(ordering: .relaxed),
                      refused403.load(ordering: .relaxed), refused404.load(ordering: .relaxed),
                      refused405.load(ordering: .relaxed), refused426.load(ordering: .relaxed),
                      refused431.load(ordering: .relaxed), refused503.load(ordering: .relaxed)]
        for (status, count) in zip(Self.refusalStatuses, counts) { metrics.refusals[status, default: 0] += count }
        metrics.refusals[0, default: 0] += refusedOther.load(ordering: .relaxed)
    }
}
