import CParleySystem

/// Readiness of a descriptor, as every poller reports it, and the interest a descriptor is
/// registered with (``read`` and ``write``; ``hangUp`` and ``error`` are reported whether
/// asked for or not). The bits are Parley's own, the same with epoll and poll.
///
/// Runtime SPI (`@_spi(IO)`), like ``Transport``, ``IOResult`` and ``StreamIO``: public only so
/// that the connections of other Parley modules inline these calls on their hot path.
@_spi(IO)
public struct IOEvents: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Bytes to read, a connection to accept, or the end of the stream.
    @inlinable public static var read: IOEvents { IOEvents(rawValue: CPS_IO_READ) }
    /// Room to write, or a non-blocking connect has finished.
    @inlinable public static var write: IOEvents { IOEvents(rawValue: CPS_IO_WRITE) }
    /// The peer closed the connection in both directions.
    @inlinable public static var hangUp: IOEvents { IOEvents(rawValue: CPS_IO_HANGUP) }
    /// An error is pending on the descriptor (read it with a read, a write or `SO_ERROR`).
    @inlinable public static var error: IOEvents { IOEvents(rawValue: CPS_IO_ERROR) }
}
