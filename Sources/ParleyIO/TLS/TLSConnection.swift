import CParleyTLS
#if canImport(Glibc)
#elseif canImport(Darwin)
import Darwin
#endif

/// One TLS connection over a connected, non-blocking socket: the handshake, then encrypted reads
/// and writes, then `close_notify`. OpenSSL reads and writes the socket itself.
///
/// Nothing blocks: every call does what the socket allows now and says what it waits for.
/// ``Outcome/wantRead`` means "call again when the socket is readable", ``Outcome/wantWrite``
/// "when it is writable", whichever call it was: a read can need a write (TLS 1.3 key update)
/// and a write a read.
///
/// - Reads: one read takes every record ready, up to the buffer's size; when it filled the
///   buffer, OpenSSL may hold more that the socket will not signal again: read again while
///   ``hasBufferedInput`` holds.
/// - Writes: ``Outcome/bytes(_:)`` may be fewer than given (one record per call at least). After
///   ``Outcome/wantWrite``, call `write` again with bytes that start with the same bytes (the
///   buffer may move). Coalesce small messages into one buffer before writing: each `write` call
///   makes at least one record and one system call.
/// - Shutdown: ``shutdown()`` sends `close_notify`; the socket can be closed once it returns
///   ``Outcome/closed`` (waiting for the peer's `close_notify` is not required, RFC 8446 6.1).
///
/// Not thread-safe: use it on one thread (the socket's event loop). Its state is therefore
/// `@exclusivity(unchecked)`, as a connection's on its loop: each access is a single statement
/// that calls nothing reaching the same property, so the runtime check is skipped. It does not
/// own the socket: close the descriptor yourself, when the connection is no longer used.
/// Writing to a socket whose peer is gone raises `SIGPIPE`: the process must ignore it
/// (`SystemSocket.ignoreSIGPIPE`).
///
/// ```swift
/// let tls = try TLSConnection(context: clientContext, fd: fd, serverName: "chat.example.com")
/// switch tls.handshake() {
/// case .completed: startReading()
/// case .wantRead: watch(fd, for: .readable)
/// case .wantWrite: watch(fd, for: .writable)
/// case .failed(let error): close(fd); report(error.message)
/// }
/// ```
@_spi(IO) public final class TLSConnection {
    /// What a read, a write or a shutdown did.
    @usableFromInline package enum Outcome: Sendable, Equatable {
        /// Bytes read into the buffer or taken from it (at least 1). Shutdown never returns it.
        case bytes(Int)
        /// Nothing more until the socket is readable.
        case wantRead
        /// Nothing more until the socket is writable.
        case wantWrite
        /// Reads: the peer ended the stream (its `close_notify`, or the end of the TCP stream);
        /// no more bytes will come. Shutdown: our `close_notify` is sent.
        case closed
        /// The connection failed; it is unusable and every later call returns the same error.
        case failed(TLSError)
    }

    /// What a handshake step did.
    package enum HandshakeOutcome: Sendable, Equatable {
        /// The connection is established (the peer's certificate verified, when configured).
        case completed
        /// Call again when the socket is readable.
        case wantRead
        /// Call again when the socket is writable.
        case wantWrite
        /// The handshake failed: ``TLSError/certificateVerificationFailed`` or
        /// ``TLSError/handshakeFailed``, with the reason.
        case failed(TLSError)
    }

    enum Phase {
        case handshaking
        case established
        case shutdown
        case failed(TLSError)
    }

    package let context: TLSContext
    /// The socket, as given (not owned).
    @usableFromInline package let fd: Int32
    /// The name the peer's certificate is checked against (clients), as given.
    package let serverName: String?
    let session: OpaquePointer
    @exclusivity(unchecked) var phase = Phase.handshaking
    /// The peer ended the stream: reads return ``Outcome/closed`` from now on.
    @exclusivity(unchecked) var peerClosed = false
    /// Complete records (or decrypted bytes) wait inside the session: the last read filled its
    /// buffer before taking them all, or the handshake read them ahead.
    @exclusivity(unchecked) @usableFromInline var unreadInput = false
    // Buffer keeping (TLSConnection+Buffers.swift).
    /// Reads and writes so far (wrapping).
    @exclusivity(unchecked) var ioCalls: UInt32 = 0
    /// The count at which the connection becomes busy.
    @exclusivity(unchecked) var busyAt: UInt32 = TLSConnection.busyCalls
    /// The count at the last idle check.
    @exclusivity(unchecked) var callsAtCheck: UInt32 = 0
    /// The idle check's timer while the connection keeps its buffers.
    @exclusivity(unchecked) var idleCheck: TimerID?
    /// The loop running the idle check (it outlives its connections).
    @exclusivity(unchecked) unowned(unsafe) var checkLoop: EventLoop?
    /// How often a connection keeping its buffers is checked for idleness.
    @exclusivity(unchecked) package var idleCheckInterval = TLSConnection.defaultIdleCheckInterval

    /// Starts a connection in `context`'s role over `fd`. Nothing is sent until ``handshake()``.
    ///
    /// - Parameters:
    ///   - context: the configuration; the connection keeps it alive.
    ///   - fd: a connected non-blocking stream socket.
    ///   - serverName: clients: the host of the URL. A DNS name is sent as SNI (RFC 6066 3) and
    ///     must match the certificate's DNS names; an IPv4 or IPv6 literal (brackets allowed) is
    ///     not sent (RFC 6066 3: literal IP addresses are not permitted in SNI) and must match an
    ///     IP address name. Servers: ignored (nil).
    /// - Throws: ``TLSError/invalidConfiguration`` when a verifying client has no `serverName`,
    ///   or OpenSSL refuses the name.
    package init(context: TLSContext, fd: Int32, serverName: String? = nil) throws(TLSError) {
        guard let session = cpt_session_new(context.pointer, fd) else {
            throw .invalidConfiguration("OpenSSL could not start a TLS connection: \(TLSLibrary.drainErrors())")
        }
        self.session = session
        self.context = context
        self.fd = fd
        self.serverName = context.role == .client ? serverName : nil
        if context.role == .client {
            try setServerName()
        }
    }

    deinit { cpt_session_free(session) }

    private func setServerName() throws(TLSError) {
        guard let serverName, !serverName.isEmpty else {
            if context.configuration.certificateVerification == .full {
                throw .invalidConfiguration("a TLS client needs the server's host name to verify its certificate")
            }
            return
        }
        if let address = Self.ipLiteral(serverName) {
            guard cpt_session_set_ip_address(session, address) == 1 else {
                throw .invalidConfiguration("the IP address \(serverName) cannot be checked: \(TLSLibrary.drainErrors())")
            }
        } else {
            guard cpt_session_set_host_name(session, serverName) == 1 else {
                throw .invalidConfiguration("the host name \(serverName) cannot be used for TLS: \(TLSLibrary.drainErrors())")
            }
        }
    }

    /// `name` without brackets if it is an IPv4 or IPv6 literal, else nil.
    static func ipLiteral(_ name: String) -> String? {
        var text = name
        if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1 { return text }
        return nil
    }

    /// Why the connection failed, once it has (the handshake's error, or a read's or write's).
    package var failure: TLSError? {
        if case .failed(let error) = phase { return error }
        return nil
    }

    /// Whether the handshake completed and the connection has not failed or shut down.
    package var isEstablished: Bool {
        if case .established = phase { return true }
        return false
    }

    /// The ALPN protocol both sides agreed on (e.g. "http/1.1"), or nil.
    package var applicationProtocol: String? {
        var length: UInt32 = 0
        guard let bytes = cpt_session_alpn(session, &length), length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(length)), as: UTF8.self)
    }

    /// The negotiated protocol version, e.g. "TLSv1.3".
    package var protocolVersion: String {
        guard let text = cpt_session_version(session) else { return "unknown" }
        return String(cString: text)
    }

    /// Whether bytes read from the socket wait inside OpenSSL that the socket will not report
    /// as readable: the last ``read(into:)`` filled its buffer before taking every record read
    /// ahead, or the handshake read the peer's first data ahead. Call ``read(into:)`` again then.
    /// (Part of a record may also wait: the socket reports the rest when it arrives.)
    @usableFromInline package var hasBufferedInput: Bool { unreadInput }
}
