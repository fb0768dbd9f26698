import CParleySystem

extension StreamIO {
    /// Tries a connect to each resolved address in turn, skipping those that fail at once, and
    /// remembers why the last one failed. The owner calls ``next(on:handler:)`` again when a
    /// started connect fails (``StreamIO/finishConnect(_:)``).
    ///
    /// ```swift
    /// var dialer = StreamIO.Dialer(addresses: addresses)
    /// guard let io = dialer.next(on: loop, handler: self) else { fail(dialer.lastErrno); return }
    /// // later, on the stream's first event:
    /// let code = io.finishConnect(events)   // 0: connected
    /// ```
    package struct Dialer {
        private var addresses: ArraySlice<sockaddr_storage>
        /// Why the last address failed; `ECONNREFUSED` until one has.
        package private(set) var lastErrno: Int32 = ECONNREFUSED

        package init(addresses: [sockaddr_storage]) {
            self.addresses = addresses[...]
        }

        /// Starts a non-blocking connect (no Nagle) to the next address that does not fail at
        /// once and registers it on `loop` for `handler`, waiting for the connect to finish.
        /// - Returns: the connecting stream, or nil when no address is left (``lastErrno``).
        package mutating func next(on loop: EventLoop, handler: Selectable) -> StreamIO? {
            while let address = addresses.popFirst() {
                switch SystemSocket.startConnect(to: address, portable: loop.backend == .poll) {
                case .failure(let error):
                    lastErrno = error.code
                case .success(let fd):
                    var io = StreamIO(transport: .plain(fd), loop: loop, connecting: true)
                    guard io.register(handler: handler) else {
                        lastErrno = errno
                        closeDescriptor(fd)
                        continue
                    }
                    return io
                }
            }
            return nil
        }

        /// Records the errno of a started connect that failed (``StreamIO/finishConnect(_:)``).
        package mutating func failed(_ code: Int32) {
            lastErrno = code
        }
    }

    /// Completes a connect started by a ``Dialer`` when its stream reports `events`.
    /// - Returns: 0 when connected (the stream now watches for reading only), otherwise the
    ///   connect's errno (close the stream and try the next address).
    package mutating func finishConnect(_ events: IOEvents) -> Int32 {
        let error = cps_socket_error(fd)
        if error != 0 { return error }
        if !events.isDisjoint(with: [.error, .hangUp]) { return ECONNREFUSED }
        writesDrained()
        return 0
    }
}
