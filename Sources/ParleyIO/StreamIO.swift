import CParleySystem

/// A connected stream on one ``EventLoop``: its ``Transport`` plus what the loop watches it
/// for. The one read/write/connect path of every connection type.
///
/// The owner (a connection class, the stream's ``Selectable``) keeps it as a stored property
/// and calls it on the loop thread only. Interest follows the results:
/// - a read or write that would block arms the readiness it waits for (for a plain socket,
///   reads wait for ``IOEvents/read``, which is always watched, and writes for
///   ``IOEvents/write``); TLS may wait for the other direction, transparently;
/// - ``writesDrained()`` stops watching for writability once the owner has nothing to write;
/// - ``shouldRead(_:)`` and ``shouldWrite(_:)`` tell the owner, from an event, what to retry.
///
/// The poller is called only when the watched set changes.
///
/// ```swift
/// func handleEvents(_ events: IOEvents) {
///     if io.shouldRead(events) {
///         switch io.read(into: loop.readBuffer) {
///         case .bytes(let count): consume(count)
///         case .wouldBlock: break
///         case .endOfStream: peerClosed()
///         case .failed(let code): fail(code)
///         }
///     }
///     if io.shouldWrite(events) { writeQueued() }   // writeQueued calls io.writesDrained() when done
/// }
/// ```
///
/// Runtime SPI, as ``IOEvents``: the hot methods are inlinable, so a connection's read and
/// write compile to the system calls with no call in between.
@_spi(IO)
public struct StreamIO {
    /// How bytes move; settable (on the loop thread) to put a TLS session over a plain socket.
    public var transport: Transport
    /// The loop the stream lives on. Not retained, so that a stream is plain data that
    /// connections copy and read for free on their hot path: the loop outlives every stream
    /// registered on it (its group, its running thread and the stream's owner hold it).
    public unowned(unsafe) let loop: EventLoop
    // State read and written by the inlined methods below, hence usable from inline code.
    /// What the poller watches now.
    @usableFromInline var watched: IOEvents = []
    /// What the next read waits for.
    @usableFromInline var readWaitsFor: IOEvents = .read
    /// What a blocked write (or an unfinished connect) waits for; empty when none is.
    @usableFromInline var writeWaitsFor: IOEvents = []

    /// A stream over `transport`, not registered yet (see ``register(handler:)``).
    /// - Parameter connecting: a non-blocking connect is under way: the stream waits for
    ///   writability, which reports its end (see ``finishConnect(_:)``).
    package init(transport: Transport, loop: EventLoop, connecting: Bool = false) {
        self.transport = transport
        self.loop = loop
        if connecting { writeWaitsFor = .write }
    }

    /// The socket's descriptor.
    @inlinable public var fd: Int32 { transport.descriptor }

    /// Registers the stream on its loop for reading; `handler` receives its events.
    /// - Returns: false when the poller refused (errno says why); the stream is not watched then.
    package mutating func register(handler: Selectable) -> Bool {
        let interest = readWaitsFor.union(writeWaitsFor)
        guard loop.register(fd, interest: interest, handler: handler) else { return false }
        watched = interest
        return true
    }

    /// Whether `events` let the pending read proceed (or report the end or an error).
    @inlinable
    public func shouldRead(_ events: IOEvents) -> Bool {
        !events.isDisjoint(with: readWaitsFor.union([.hangUp, .error]))
    }

    /// Whether a write is blocked and `events` let it proceed.
    @inlinable
    public func shouldWrite(_ events: IOEvents) -> Bool {
        !writeWaitsFor.isEmpty && !events.isDisjoint(with: writeWaitsFor)
    }

    /// Whether a write is blocked, waiting for readiness (the owner queues instead of writing).
    @inlinable public var isWriteBlocked: Bool { !writeWaitsFor.isEmpty }

    /// Reads what is available into `buffer`; see ``IOResult``. When a TLS read fills the buffer
    /// and leaves records inside the session (read ahead), the loop calls the owner to read again
    /// in this iteration: the descriptor will not report them. (A TLS write that completes the
    /// handshake and reads the peer's first data ahead asks the loop the same.)
    @inlinable
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        let result = transport.read(into: buffer)
        if case .bytes = result, case .tls = transport, transport.hasBufferedInput { loop.readAgain(fd) }
        if case .wouldBlock(let needs) = result {
            if needs != readWaitsFor { readWaitsFor = needs; updateInterest() }
        } else if readWaitsFor != .read {
            readWaitsFor = .read
            updateInterest()
        }
        return result
    }

    /// Writes as much of `bytes` as the socket takes; on ``IOResult/wouldBlock(_:)`` the
    /// stream watches for the readiness the write waits for.
    @inlinable
    public mutating func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        let result = transport.write(bytes)
        if case .wouldBlock(let needs) = result { blockWrites(on: needs) }
        return result
    }

    /// Writes as much of `count` buffers as the socket takes, gathered; as ``write(_:)``.
    @inlinable
    public mutating func write(vectors: UnsafePointer<iovec>, count: Int) -> IOResult {
        let result = transport.write(vectors: vectors, count: count)
        if case .wouldBlock(let needs) = result { blockWrites(on: needs) }
        return result
    }

    /// The owner has written everything it had: stop watching for what blocked writes waited for.
    @inlinable
    public mutating func writesDrained() {
        guard !writeWaitsFor.isEmpty else { return }
        writeWaitsFor = []
        updateInterest()
    }

    /// Whether the transport is TLS.
    public var isSecure: Bool {
        if case .tls = transport { return true }
        return false
    }

    /// Whether bytes wait inside the transport (see ``Transport/hasBufferedInput``).
    @inlinable public var hasBufferedInput: Bool { transport.hasBufferedInput }

    /// Half-closes: the peer reads an end of stream; reading goes on.
    package func shutdownOutput() {
        transport.shutdownOutput()
    }

    /// Stops watching the socket and closes it. The stream is unusable afterwards.
    package mutating func close() {
        loop.deregister(fd)
        transport.close()
        watched = []
    }

    @usableFromInline
    mutating func blockWrites(on needs: IOEvents) {
        writeWaitsFor = needs
        updateInterest()
    }

    @usableFromInline
    mutating func updateInterest() {
        let wanted = readWaitsFor.union(writeWaitsFor)
        guard wanted != watched, !watched.isEmpty else { return }
        loop.modify(fd, interest: wanted)
        watched = wanted
    }
}
