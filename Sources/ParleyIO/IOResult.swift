/// What one read or write on a ``Transport`` did. Retrying after `EINTR` is done below this:
/// a result is always final for the call. Runtime SPI, as ``IOEvents``.
@_spi(IO)
public enum IOResult: Equatable {
    /// This many bytes were read or written (more than zero for a read).
    case bytes(Int)
    /// Nothing can move now: retry once the descriptor is ready for these events. A plain
    /// socket waits for ``IOEvents/read`` to read and ``IOEvents/write`` to write; a TLS
    /// session may need the other direction (a record to read before it can write).
    case wouldBlock(IOEvents)
    /// The peer closed its side: no byte will come any more (reads only).
    case endOfStream
    /// The connection failed with this errno (`ECONNRESET`, `EPIPE`, ...).
    case failed(Int32)
}
