import CParleySystem

/// Readiness of a descriptor, as every poller reports it, and the interest a descriptor is
/// registered with (``read`` and ``write``; ``hangUp`` and ``error`` are reported whether
/// asked for or not). The bits are Parley's own, the same with epoll and poll.
package struct IOEvents: OptionSet, Sendable, Hashable {
    package let rawValue: UInt32
    @inline(__always) package init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Bytes to read, a connection to accept, or the end of the stream.
    package static let read = IOEvents(rawValue: CPS_IO_READ)
    /// Room to write, or a non-blocking connect has finished.
    package static let write = IOEvents(rawValue: CPS_IO_WRITE)
    /// The peer closed the connection in both directions.
    package static let hangUp = IOEvents(rawValue: CPS_IO_HANGUP)
    /// An error is pending on the descriptor (read it with a read, a write or `SO_ERROR`).
    package static let error = IOEvents(rawValue: CPS_IO_ERROR)

    /// Whether a read should be tried: readable, hung up or failed (the read then reports the
    /// end of the stream or the error).
    @inline(__always) package var allowsRead: Bool { !isDisjoint(with: [.read, .hangUp, .error]) }
}
