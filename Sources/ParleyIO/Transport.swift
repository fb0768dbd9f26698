import CParleySystem

/// The byte stream under a connection: how bytes are read from and written to its socket.
///
/// Every connection type (WebSocket, the HTTP upgrade, the WebSocket client's connect,
/// ``TCPStream``) reads and writes through this type, so the errno handling of non-blocking
/// I/O exists once, here, and a connection never calls `recv` or `send` itself.
///
/// **TLS.** ``tls(_:)`` runs OpenSSL's `SSL_read` / `SSL_write` on the same descriptor:
/// - ``read(into:)`` and ``write(_:)`` return ``IOResult/wouldBlock(_:)`` with the readiness
///   the session asked for (`SSL_ERROR_WANT_READ` → ``IOEvents/read``, `WANT_WRITE` →
///   ``IOEvents/write``), whichever call made it; ``StreamIO`` then watches for that and calls
///   the connection again, so connections need no change;
/// - the handshake runs inside the first reads and writes (the session starts in the accept or
///   connect state): a server reads the request head through it, a client writes its request;
/// - a TLS failure is ``IOResult/failed(_:)`` with `EPROTO`; ``failureDescription(_:)`` gives
///   the words (the certificate, the alert);
/// - ``write(vectors:count:)`` copies small buffers into one record (up to 16 KiB) before
///   encrypting: each `SSL_write` makes at least one record and one system call;
/// - the session reads ahead (one `recv` for every record the socket holds) and a read takes
///   every complete record, up to the buffer's size; ``hasBufferedInput`` is true when records
///   are left inside the session because the buffer was full (or the handshake read the peer's
///   first data ahead), which the descriptor will not report as readable
///   (``StreamIO/read(into:)``, or the session itself after a handshake, then has the loop call
///   the owner again);
/// - ``shutdownOutput()`` sends `close_notify` before the TCP half-close; ``close()`` sends it
///   too when the session is established and not shut down yet, then closes the descriptor.
///
/// An enum rather than a protocol: a connection's hot path (one read per event, one gathered
/// write per loop iteration) switches on a case the optimiser can see, instead of calling
/// through an existential. Runtime SPI, as ``IOEvents``.
@_spi(IO)
public enum Transport {
    /// A plain TCP socket, non-blocking.
    case plain(Int32)
    /// A TLS session over a plain non-blocking TCP socket (``TLSConnection/fd``).
    case tls(TLSConnection)

    /// The errno of every TLS failure (the session holds the error itself).
    public static let tlsFailure = EPROTO

    /// The socket's descriptor.
    @inlinable
    public var descriptor: Int32 {
        switch self {
        case .plain(let fd): return fd
        case .tls(let connection): return connection.fd
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
        case .tls(let connection):
            return Self.result(of: connection.read(into: buffer))
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
        case .tls(let connection):
            return Self.result(of: connection.write(bytes))
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
        case .tls(let connection):
            return Self.write(connection, vectors: vectors, count: count)
        }
    }

    /// Whether bytes are waiting inside the transport that the descriptor will not report as
    /// readable (TLS records the last read had no room for); a reader keeps reading while this
    /// holds. Never for plain.
    @inlinable
    public var hasBufferedInput: Bool {
        switch self {
        case .plain: return false
        case .tls(let connection): return connection.hasBufferedInput
        }
    }

    /// Ends the outgoing direction (TCP half-close): the peer reads an end of stream.
    public func shutdownOutput() {
        switch self {
        case .plain(let fd): _ = shutdown(fd, Int32(SHUT_WR))
        case .tls(let connection):
            // close_notify (RFC 8446 6.1), best effort: a full send buffer loses it, as it would
            // lose any last bytes; the TCP half-close still ends the stream.
            _ = connection.shutdown()
            _ = shutdown(connection.fd, Int32(SHUT_WR))
        }
    }

    /// Closes the socket (deregister it from its loop first: ``StreamIO/close()`` does both).
    public func close() {
        switch self {
        case .plain(let fd): closeDescriptor(fd)
        case .tls(let connection):
            connection.stopIdleCheck()
            if connection.isEstablished { _ = connection.shutdown() }
            closeDescriptor(connection.fd)
        }
    }

    /// Words for a ``IOResult/failed(_:)`` code of this transport: the TLS error's message when
    /// the session failed, else the system's text for `code`.
    public func failureDescription(_ code: Int32) -> String {
        if case .tls(let connection) = self, let failure = connection.failure { return failure.message }
        return String(cString: strerror(code))
    }

    /// The TLS session's error when this transport is TLS and has failed, else nil.
    public var tlsFailure: TLSError? {
        if case .tls(let connection) = self { return connection.failure }
        return nil
    }
}

// TLS, out of line: the plain cases above stay small enough to inline into every connection.
extension Transport {
    /// The largest plaintext of one TLS record (RFC 8446 5.1): queued buffers are copied
    /// together up to this, so that small frames share records and system calls.
    @usableFromInline static let tlsRecordSize = 16_384

    @usableFromInline
    static func result(of outcome: TLSConnection.Outcome) -> IOResult {
        switch outcome {
        case .bytes(let count): return .bytes(count)
        case .wantRead: return .wouldBlock(.read)
        case .wantWrite: return .wouldBlock(.write)
        case .closed: return .endOfStream
        case .failed: return .failed(tlsFailure)
        }
    }

    /// One `SSL_write` of the buffers: the first alone when it fills a record (no copy), else as
    /// many buffers as fit in one record, copied together. A retry after ``IOResult/wouldBlock(_:)``
    /// is given the same first bytes (the owner's queue only grows at its end), which is what
    /// OpenSSL requires of a retried write.
    @usableFromInline
    static func write(_ connection: TLSConnection, vectors: UnsafePointer<iovec>, count: Int) -> IOResult {
        let first = vectors[0]
        if count == 1 || first.iov_len >= tlsRecordSize {
            return result(of: connection.write(UnsafeRawBufferPointer(start: first.iov_base, count: first.iov_len)))
        }
        return withUnsafeTemporaryAllocation(byteCount: tlsRecordSize, alignment: 16) { scratch in
            var filled = 0
            for index in 0..<count where filled < tlsRecordSize {
                let vector = vectors[index]
                let take = min(vector.iov_len, tlsRecordSize - filled)
                if take > 0, let base = vector.iov_base {
                    (scratch.baseAddress! + filled).copyMemory(from: base, byteCount: take)
                    filled += take
                }
            }
            return result(of: connection.write(UnsafeRawBufferPointer(start: scratch.baseAddress, count: filled)))
        }
    }
}
