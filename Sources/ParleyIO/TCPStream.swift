import CParleySystem

/// A non-blocking outgoing TCP connection on one ``EventLoop``, for protocols other than
/// WebSocket (the Redis client): connect with a timeout over every resolved address, read
/// callbacks from the loop's shared buffer, and buffered writes that wait for writability.
/// Its reads, writes and connect go through ``StreamIO``; with a ``TLSContext`` the stream is
/// TLS, its handshake driven by the first writes (``tlsFailure`` tells why it failed).
///
/// Loop-confined: create it, call it and receive its events on `loop`'s thread only. It stays
/// alive while registered on the loop; after ``close()`` or a `.closed` event it is inert.
///
/// ```swift
/// loop.execute {
///     let stream = TCPStream(loop: loop) { stream, event in
///         if case .connected = event { stream.write(Array("PING\r\n".utf8)) }
///     }
///     stream.connect(host: "127.0.0.1", port: 6379, timeout: .seconds(5))
/// }
/// ```
package final class TCPStream: Selectable {
    /// What happens to the stream, reported to its handler on the loop thread.
    package enum Event {
        /// The TCP connection is established; writes go out from now on.
        case connected
        /// Bytes arrived; the buffer is valid only during the call (it is the loop's).
        case received(UnsafeRawBufferPointer)
        /// Everything written so far has been handed to the kernel.
        case drained
        /// The connection failed or ended: `errno` (0 when the peer closed it, `ETIMEDOUT` for
        /// the connect timeout). No event follows.
        case closed(errno: Int32)
    }

    private enum Phase { case idle, connecting, open, closed }

    package let loop: EventLoop
    private var handler: ((TCPStream, Event) -> Void)?
    private var phase = Phase.idle
    /// The connection (connecting or open); nil before and after.
    private var io: StreamIO?
    private var dialer = StreamIO.Dialer(addresses: [])
    private var deadline: TimerID?
    private var output: [UInt8] = []
    private var outputOffset = 0
    /// The TLS context of the connection; nil for plain TCP.
    private var tls: TLSContext?
    private var serverName = ""
    /// Why the TLS session failed, once the stream has closed because of it.
    package private(set) var tlsFailure: TLSError?

    /// Reads per readiness event at most, so one busy stream cannot starve the loop's others.
    static let readsPerEvent = 16

    /// - Parameters:
    ///   - loop: the loop the stream lives on; call from its thread.
    ///   - handler: receives every ``Event``; it may call back into the stream.
    package init(loop: EventLoop, handler: @escaping (TCPStream, Event) -> Void) {
        self.loop = loop
        self.handler = handler
    }

    /// Bytes written but not yet handed to the kernel.
    package var bufferedBytes: Int { output.count - outputOffset }

    /// Whether the connection is established and not closed.
    package var isOpen: Bool { phase == .open }

    /// Resolves `host` (on the loop thread: a literal address or `localhost` costs nothing, a
    /// DNS name blocks this loop while it resolves) and connects to the first address that
    /// answers, within `timeout` in all.
    /// - Parameter tls: a client context for TLS, the certificate checked against `host`
    ///   (SNI); nil for plain TCP.
    package func connect(host: String, port: Int, timeout: Duration, tls: TLSContext? = nil) {
        guard phase == .idle else { return }
        self.tls = tls
        serverName = host
        SystemSocket.ignoreSIGPIPE()
        phase = .connecting
        switch SystemSocket.resolve(host: host, port: port) {
        case .success(let found): dialer = StreamIO.Dialer(addresses: found)
        case .failure(let error):
            finish(errno: error.code)
            return
        }
        deadline = loop.schedule(after: timeout) { [self] in
            deadline = nil
            finish(errno: ETIMEDOUT)
        }
        tryNextAddress()
    }

    /// Turns on TCP keep-alive probes: a peer that vanished without a FIN or RST (a network
    /// partition, a powered-off host) is reported as `.closed(ETIMEDOUT)` after about
    /// `idle + interval × count` seconds of silence, instead of never. Call once connected.
    package func enableKeepAlive(idleSeconds: Int32, intervalSeconds: Int32, count: Int32) {
        guard let io else { return }
        SystemSocket.enableKeepAlive(io.fd, idleSeconds: idleSeconds, intervalSeconds: intervalSeconds, count: count)
    }

    /// Queues `bytes` and writes as much as the kernel takes now; the rest goes out when the
    /// socket is writable (``Event/drained`` then). Ignored unless connecting or open.
    package func write(_ bytes: [UInt8]) {
        guard phase == .connecting || phase == .open, !bytes.isEmpty else { return }
        if output.isEmpty { output = bytes } else { output.append(contentsOf: bytes) }
        if phase == .open && io?.isWriteBlocked == false { writeOutput() }
    }

    /// Closes the connection at once (queued bytes are dropped); no event follows.
    package func close() {
        handler = nil
        finish(errno: 0)
    }

    private func tryNextAddress() {
        guard phase == .connecting else { return }
        guard let started = dialer.next(on: loop, handler: self) else {
            finish(errno: dialer.lastErrno)
            return
        }
        io = started
    }

    package func handleEvents(_ events: IOEvents) {
        guard io != nil else { return }
        switch phase {
        case .connecting:
            let code = io?.finishConnect(events) ?? EBADF
            guard code == 0 else {
                dialer.failed(code)
                closeStream()
                tryNextAddress()
                return
            }
            if let tls, let fd = io?.fd {
                do {
                    io?.transport = .tls(try TLSConnection(context: tls, fd: fd, serverName: serverName))
                } catch {
                    tlsFailure = error
                    return finish(errno: Transport.tlsFailure)
                }
            }
            phase = .open
            if let deadline { loop.cancel(deadline) }
            deadline = nil
            handler?(self, .connected)
            if phase == .open && bufferedBytes > 0 { writeOutput() }
        case .open:
            if io?.shouldWrite(events) == true {
                writeOutput()
                if phase == .open && io?.isWriteBlocked == false { handler?(self, .drained) }
            }
            if phase == .open && io?.shouldRead(events) == true { readInput() }
        case .idle, .closed:
            return
        }
    }

    private func readInput() {
        let buffer = loop.readBuffer
        for _ in 0..<Self.readsPerEvent {
            guard phase == .open, let result = io?.read(into: buffer) else { return }
            switch result {
            case .bytes(let count):
                handler?(self, .received(UnsafeRawBufferPointer(start: buffer.baseAddress, count: count)))
                if count < buffer.count && io?.hasBufferedInput != true { return }
            case .wouldBlock:
                return
            case .endOfStream:
                finish(errno: 0)
                return
            case .failed(let code):
                finish(errno: code)
                return
            }
        }
    }

    private func writeOutput() {
        while outputOffset < output.count {
            let offset = outputOffset
            guard let result = output.withUnsafeBytes({ io?.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }) else { return }
            switch result {
            case .bytes(let count):
                outputOffset += count
            case .wouldBlock:
                return
            case .endOfStream:
                finish(errno: 0)
                return
            case .failed(let code):
                finish(errno: code)
                return
            }
        }
        output.removeAll(keepingCapacity: output.count <= 64 * 1024)
        outputOffset = 0
        io?.writesDrained()
    }

    private func closeStream() {
        io?.close()
        io = nil
    }

    /// Ends the stream once and reports `.closed` (unless ``close()`` dropped the handler).
    private func finish(errno code: Int32) {
        guard phase != .closed else { return }
        phase = .closed
        if tlsFailure == nil { tlsFailure = io?.transport.tlsFailure }
        if let deadline { loop.cancel(deadline) }
        deadline = nil
        closeStream()
        output = []
        outputOffset = 0
        let handler = self.handler
        self.handler = nil
        handler?(self, .closed(errno: code))
    }
}
