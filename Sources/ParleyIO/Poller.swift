import CParleySystem

/// Waits for readiness of many descriptors: the one selector abstraction of an ``EventLoop``,
/// with a variant per backend (``Epoll``, ``Poll``).
///
/// An enum over two concrete types rather than a protocol: a switch per call, never an
/// existential dispatch, and one switch per wait however many events it returns. Both report
/// ``IOEvents`` bits with the 64-bit token given at registration, level-triggered: a
/// descriptor that stays ready is reported again by the next wait.
///
/// Loop-confined: register, modify, deregister and wait on the loop's thread only.
package enum Poller {
    case epoll(Epoll)
    case poll(Poll)

    /// Events returned by one wait at most (the C shim caps epoll there too).
    package static let maxEvents = 256

    /// Opens a poller of `backend` (``IOBackend/resolved`` first).
    /// - Throws: ``Errno`` when the system refuses (out of descriptors).
    package init(backend: IOBackend) throws(Errno) {
        switch backend.resolved {
        case .epoll: self = .epoll(try Epoll())
        case .poll, .automatic: self = .poll(Poll())
        }
    }

    /// The backend this poller implements.
    package var backend: IOBackend {
        switch self {
        case .epoll: return .epoll
        case .poll: return .poll
        }
    }

    /// Starts watching `fd` for `interest`; events carry `token`.
    /// - Parameter exclusive: when several pollers watch `fd` (a shared listening socket), wake
    ///   one of them per event rather than all (epoll only; poll ignores it).
    /// - Returns: 0, or the errno of a refused registration.
    @inline(__always)
    package func register(_ fd: Int32, interest: IOEvents, token: UInt64, exclusive: Bool = false) -> Int32 {
        switch self {
        case .epoll(let epoll): return epoll.register(fd, interest: interest, token: token, exclusive: exclusive)
        case .poll(let poll): return poll.register(fd, interest: interest, token: token)
        }
    }

    /// Changes what a registered `fd` is watched for.
    @inline(__always)
    package func modify(_ fd: Int32, interest: IOEvents, token: UInt64) {
        switch self {
        case .epoll(let epoll): epoll.modify(fd, interest: interest, token: token)
        case .poll(let poll): poll.modify(fd, interest: interest, token: token)
        }
    }

    /// Stops watching `fd` (call before closing it).
    @inline(__always)
    package func deregister(_ fd: Int32) {
        switch self {
        case .epoll(let epoll): epoll.deregister(fd)
        case .poll(let poll): poll.deregister(fd)
        }
    }

    /// Waits up to `timeoutMilliseconds` (-1: until something happens) and writes up to
    /// `capacity` events to `events`.
    /// - Returns: the number of events (0 on timeout or interruption).
    @inline(__always)
    package func wait(into events: UnsafeMutablePointer<cps_event>, capacity: Int, timeoutMilliseconds: Int32) -> Int {
        let count: Int32
        switch self {
        case .epoll(let epoll): count = epoll.wait(into: events, capacity: capacity, timeoutMilliseconds: timeoutMilliseconds)
        case .poll(let poll): count = poll.wait(into: events, capacity: capacity, timeoutMilliseconds: timeoutMilliseconds)
        }
        return count > 0 ? Int(count) : 0
    }

    /// Releases the poller's descriptor, if it has one.
    package func close() {
        switch self {
        case .epoll(let epoll): epoll.close()
        case .poll: break
        }
    }
}
