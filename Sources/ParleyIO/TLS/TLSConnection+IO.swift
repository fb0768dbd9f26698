import CParleySystem
import CParleyTLS

extension TLSConnection {
    /// Takes the handshake as far as the socket allows now.
    ///
    /// Calling it after completion returns ``HandshakeOutcome/completed`` again; after a failure,
    /// the same failure. ``read(into:)`` and ``write(_:)`` also drive an unfinished handshake.
    package func handshake() -> HandshakeOutcome {
        stepHandshake(reading: false)
    }

    /// One handshake step; `reading`: inside ``read(into:)``, which takes what was read ahead.
    private func stepHandshake(reading: Bool) -> HandshakeOutcome {
        switch phase {
        case .established, .shutdown: return .completed
        case .failed(let error): return .failed(error)
        case .handshaking: break
        }
        var errorNumber: Int32 = 0
        let result = cpt_session_handshake(session, &errorNumber)
        switch Int(result) {
        case 0...:
            phase = .established
            if !reading { noticeReadAhead() }
            return .completed
        case CPT_WANT_READ:
            return .wantRead
        case CPT_WANT_WRITE:
            return .wantWrite
        default:
            let error = handshakeError(result, errorNumber)
            phase = .failed(error)
            return .failed(error)
        }
    }

    /// Reads decrypted bytes into `buffer`: as many as are ready, up to its size, from as many
    /// records as the socket and the session hold (one `SSL_read` returns one record).
    ///
    /// - Returns: ``Outcome/bytes(_:)`` (0 only for an empty buffer), ``Outcome/wantRead`` /
    ///   ``Outcome/wantWrite``, ``Outcome/closed`` when the peer ended the stream (then always),
    ///   or ``Outcome/failed(_:)``. After bytes, an end or a failure met on the way is the next
    ///   call's answer.
    @usableFromInline package func read(into buffer: UnsafeMutableRawBufferPointer) -> Outcome {
        if let early = prepare(reading: true) { return early }
        if peerClosed { return .closed }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .bytes(0) }
        var total = 0
        var errorNumber: Int32 = 0
        while true {
            let result = cpt_session_read(session, base + total, Int32(clamping: buffer.count - total), &errorNumber)
            countCall()
            guard result > 0 else {
                // Records may still wait, incomplete: the socket reports the rest when it comes.
                unreadInput = false
                let outcome = ioOutcome(result, errorNumber)
                return total > 0 ? .bytes(total) : outcome
            }
            total += Int(result)
            // Another record read ahead (or the rest of this one): take it too, while room is left.
            let more = cpt_session_has_pending(session) != 0
            if !more || total == buffer.count {
                unreadInput = more
                return .bytes(total)
            }
        }
    }

    /// Encrypts and sends bytes of `buffer`: at least one record's worth when the socket takes it.
    ///
    /// - Returns: ``Outcome/bytes(_:)`` taken (0 only for an empty buffer; the rest is the
    ///   caller's to write again), ``Outcome/wantWrite`` / ``Outcome/wantRead`` (then write the
    ///   same bytes again), ``Outcome/closed`` if the peer closed, or ``Outcome/failed(_:)``.
    @usableFromInline package func write(_ buffer: UnsafeRawBufferPointer) -> Outcome {
        if let early = prepare(reading: false) { return early }
        if case .shutdown = phase { return .failed(.connectionFailed("write after the TLS connection was shut down")) }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .bytes(0) }
        var errorNumber: Int32 = 0
        let result = cpt_session_write(session, base, Int32(clamping: buffer.count), &errorNumber)
        countCall()
        return ioOutcome(result, errorNumber)
    }

    /// Sends `close_notify`, telling the peer that no more data follows.
    ///
    /// - Returns: ``Outcome/closed`` once sent (or when there is nothing to send: the handshake
    ///   never completed, or the connection failed); ``Outcome/wantWrite`` to call again when
    ///   writable; ``Outcome/failed(_:)`` if the socket failed. Then close the socket.
    package func shutdown() -> Outcome {
        switch phase {
        case .handshaking, .failed:
            phase = .shutdown
            return .closed
        case .shutdown:
            return .closed
        case .established:
            break
        }
        var errorNumber: Int32 = 0
        let result = cpt_session_shutdown(session, &errorNumber)
        switch Int(result) {
        case 0...:
            phase = .shutdown
            return .closed
        case CPT_WANT_WRITE:
            return .wantWrite
        case CPT_WANT_READ:
            // Only when called again after the peer's data arrived: ours is out.
            phase = .shutdown
            return .closed
        default:
            let error = connectionError(result, errorNumber)
            phase = .failed(error)
            return .failed(error)
        }
    }

    /// Data the peer sent right after its handshake may have been read ahead with it, which the
    /// socket will not report: on an event loop, the loop calls the owner to read it.
    private func noticeReadAhead() {
        unreadInput = cpt_session_has_pending(session) != 0
        if unreadInput, let current = cps_current_loop() {
            Unmanaged<EventLoop>.fromOpaque(current).takeUnretainedValue().readAgain(fd)
        }
    }

    /// Finishes the handshake first: nil when established, else what read or write returns.
    private func prepare(reading: Bool) -> Outcome? {
        switch phase {
        case .established, .shutdown:
            return nil
        case .failed(let error):
            return .failed(error)
        case .handshaking:
            switch stepHandshake(reading: reading) {
            case .completed: return nil
            case .wantRead: return .wantRead
            case .wantWrite: return .wantWrite
            case .failed(let error): return .failed(error)
            }
        }
    }

    private func ioOutcome(_ result: Int32, _ errorNumber: Int32) -> Outcome {
        switch Int(result) {
        case 1...:
            return .bytes(Int(result))
        case CPT_WANT_READ:
            return .wantRead
        case CPT_WANT_WRITE:
            return .wantWrite
        case CPT_CLOSED, CPT_END_OF_STREAM:
            peerClosed = true
            return .closed
        default:
            let error = connectionError(result, errorNumber)
            phase = .failed(error)
            return .failed(error)
        }
    }
}
