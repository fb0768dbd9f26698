import CParleySystem

/// The readiness mechanism of an ``EventLoopGroup``'s loops.
///
/// Both backends run the same loops, connections and timers; they differ in how a loop waits
/// for its descriptors.
///
/// ```swift
/// let group = EventLoopGroup(loopCount: 2, backend: .poll)
/// ```
public enum IOBackend: String, Sendable, CaseIterable {
    /// `PARLEY_IO_BACKEND` (`epoll` or `poll`) when it is set, otherwise the fastest this
    /// system has: epoll on Linux, poll elsewhere. The default, so that any program built on
    /// Parley can be switched to the portable backend without a code change.
    case automatic
    /// Linux epoll: one system call per wait whatever the number of connections, and a
    /// listening socket shared by all loops (each connection wakes one loop). Where epoll does
    /// not exist it resolves to ``poll``.
    case epoll
    /// POSIX `poll(2)`: what macOS and iOS use, and selectable on Linux. A wait costs time in
    /// proportion to the loop's descriptors, so it suits clients and moderate servers; one loop
    /// accepts a server's connections and hands them to the others in turn. Its loops also use
    /// the POSIX calls those systems have for the rest (a self-pipe for wake-ups, `accept` and
    /// `socket` followed by `fcntl`), so that Linux runs the code macOS runs.
    case poll

    /// The environment variable ``automatic`` reads.
    public static let environmentVariable = "PARLEY_IO_BACKEND"

    /// The concrete backend this value selects here: ``epoll`` or ``poll``, never ``automatic``.
    public var resolved: IOBackend {
        switch self {
        case .poll:
            return .poll
        case .epoll:
            return cps_epoll_available() != 0 ? .epoll : .poll
        case .automatic:
            if let name = getenv(Self.environmentVariable).map({ String(cString: $0).lowercased() }),
               let chosen = IOBackend(rawValue: name), chosen != .automatic {
                return chosen.resolved
            }
            return IOBackend.epoll.resolved
        }
    }
}
