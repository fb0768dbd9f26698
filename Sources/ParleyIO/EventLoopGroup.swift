import CParleySystem
import Synchronization

/// A fixed set of ``EventLoop``s, one thread each. Connections are spread over them and stay
/// on one loop for life.
///
/// ```swift
/// let group = EventLoopGroup(loopCount: 2)              // epoll on Linux, poll elsewhere
/// let portable = EventLoopGroup(loopCount: 1, backend: .poll)
/// defer { group.shutdown(); portable.shutdown() }
/// ```
public final class EventLoopGroup: Sendable {
    /// The loops, in creation order.
    public let loops: [EventLoop]
    private let nextIndex = Atomic<Int>(0)

    /// A one-loop group shared by clients that do not bring their own. One loop is plenty for
    /// a few client connections and costs a single thread.
    public static let shared = EventLoopGroup(loopCount: 1, name: "parley-client")

    /// The number of cores this process may run on: the default loop count, one loop per core.
    public static var coreCount: Int { Int(cps_cpu_count()) }

    /// The readiness mechanism of every loop of the group: ``IOBackend/epoll`` or ``IOBackend/poll``.
    public let backend: IOBackend

    /// Starts `loopCount` loops (at least one).
    /// - Parameters:
    ///   - loopCount: the number of threads; default one per core.
    ///   - name: a prefix for the thread names.
    ///   - backend: how the loops wait for readiness; default ``IOBackend/automatic`` (the
    ///     `PARLEY_IO_BACKEND` environment variable, else epoll on Linux and poll elsewhere).
    public init(loopCount: Int = EventLoopGroup.coreCount, name: String = "parley-loop", backend: IOBackend = .automatic) {
        let resolved = backend.resolved
        self.backend = resolved
        loops = (0..<max(1, loopCount)).map { EventLoop(name: "\(name)-\($0)", backend: resolved) }
    }

    /// The next loop in round-robin order.
    public func next() -> EventLoop {
        loops[nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue % loops.count]
    }

    /// Stops every loop and waits for their threads. Connections still open are abandoned:
    /// close them first (a server's `shutdown` does).
    public func shutdown() {
        for loop in loops { loop.stop() }
        for loop in loops where !loop.inEventLoop { loop.join() }
    }
}
