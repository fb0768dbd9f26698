import CParleySystem

/// The byte stream under a connection: how bytes are read from and written to its socket.
///
/// Every connection type (WebSocket, the HTTP upgrade, the WebSocket client's connect,
/// ``TCPStream``) reads and writes through this type, so the errno handling of non-blocking
/// I/O exists once, here, and a connection never calls `recv` or `send` itself.
///
/// **Adding TLS.** A TLS session (OpenSSL's `SSL_read` / `SSL_write` on the same descriptor)
/// becomes another case, e.g. `case tls(TLSSession)`, handled in each method below:
/// - ``read(into:)`` and ``write(_:)`` return ``IOResult/wouldBlock(_:)`` with the readiness
///   the session asked for (`SSL_ERROR_WANT_READ` → ``IOEvents/read``, `WANT_WRITE` →
///   ``IOEvents/write``), whichever call made it; ``StreamIO`` then watches for that and calls
///   the connection again, so connections need no change;
/// - ``hasBufferedInput`` is true while `SSL_pending` has decrypted bytes that the descriptor
///   will not report as readable;
/// - ``shutdownOutput()`` sends `close_notify` before the TCP half-close; ``close()`` frees the
///   session;
/// - the handshake runs inside the first reads and writes (`SSL_set_accept_state` /
///   `SSL_set_connect_state`), or a stream may start plain and switch: ``StreamIO/transport`` is
///   settable on the loop thread.
///
/// An enum rather than a protocol: a connection's hot path (one read per event, one gathered
/// write per loop iteration) switches on a case the optimiser can see, instead of calling
/// through an existential. Runtime SPI, as ``IOEvents``.
@_spi(IO)
public enum Transport {
    /// A plain TCP socket, non-blocking.
    case plain(Int32)

    /// The socket's descriptor.
    @inlinable
    public var descriptor: Int32 {
        switch self {
        case .plain(let fd): return fd
        }
    }

    /// Reads what is available, up to `buffer.count` bytes.
    @inlinable
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        switch self {
        case .plain(let fd):
            while true {
                let n = recv(fd, buffer.baseAddress, buffer.count, 0)
                if n > 0 { return .bytes(n) }
                if n == 0 { return .endOfStream }
                let code = errno
                if code == EINTR { continue }
                return code == EAGAIN || code == EWOULDBLOCK ? .wouldBlock(.read) : .failed(code)
            }
        }
    }

    /// Writes as much of `bytes` (not empty) as the socket takes now.
    @inlinable
    public func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        switch self {
        case .plain(let fd):
            while true {
                let n = cps_send(fd, bytes.baseAddress, bytes.count)
                if n >= 0 { return .bytes(n) }
                let code = errno
                if code == EINTR { continue }
                return code == EAGAIN || code == EWOULDBLOCK ? .wouldBlock(.write) : .failed(code)
            }
        }
    }

    /// Writes as much of `count` buffers (in order, at least one byte in all) as the socket
    /// takes now, with one gathered `sendmsg`. A TLS session may write from the first buffers only.
    @inlinable
    public func write(vectors: UnsafePointer<iovec>, count: Int) -> IOResult {
        switch self {
        case .plain(let fd):
            while true {
                let n = cps_sendv(fd, vectors, Int32(count))
                if n >= 0 { return .bytes(n) }
                let code = errno
                if code == EINTR { continue }
                return code == EAGAIN || code == EWOULDBLOCK ? .wouldBlock(.write) : .failed(code)
            }
        }
    }

    /// Whether bytes are waiting inside the transport that the descriptor will not report as
    /// readable (decrypted TLS records); a reader keeps reading while this holds. Never for plain.
    @inlinable
    public var hasBufferedInput: Bool {
        switch self {
        case .plain: return false
        }
    }

    /// Ends the outgoing direction (TCP half-close): the peer reads an end of stream.
    public func shutdownOutput() {
        switch self {
        case .plain(let fd): _ = shutdown(fd, Int32(SHUT_WR))
        }
    }

    /// Closes the socket (deregister it from its loop first: ``StreamIO/close()`` does both).
    public func close() {
        switch self {
        case .plain(let fd): closeDescriptor(fd)
        }
    }
}
