@_spi(IO) import ParleyIO

/// Owns an accepted socket until its request head is answered: reads the head (bounded in size
/// and time), then either upgrades it to a ``WebSocket`` (handing it the stream) or sends an
/// HTTP response and closes.
final class UpgradeHandler: Selectable {
    private var io: StreamIO
    unowned let loop: EventLoop
    let context: WebSocketServer.Context
    private var parser: HTTPHeadParser
    private var deadline: TimerID?
    /// An HTTP response still being written, then a lingering close.
    private var pending: [UInt8] = []
    private var pendingOffset = 0
    private var responding = false
    private var closed = false

    /// How long to keep reading after an HTTP error response before closing, so the client
    /// receives the response instead of a reset caused by its unread request bytes.
    static let lingerTime: Duration = .seconds(2)

    init(fd: Int32, loop: EventLoop, context: WebSocketServer.Context) {
        io = StreamIO(transport: .plain(fd), loop: loop)
        self.loop = loop
        self.context = context
        parser = HTTPHeadParser(maxBytes: context.configuration.maxHeaderBytes)
    }

    func start() {
        guard io.register(handler: self) else {
            io.transport.close()
            return
        }
        // Slowloris: a head not complete in time gets no answer, just a closed connection.
        deadline = loop.schedule(after: context.configuration.handshakeTimeout) { [weak self] in
            self?.deadline = nil
            self?.drop()
        }
    }

    package func handleEvents(_ events: IOEvents) {
        if responding && io.shouldWrite(events) { writePending() }
        guard !closed, io.shouldRead(events) else { return }
        let buffer = loop.readBuffer
        let n: Int
        switch io.read(into: buffer) {
        case .bytes(let count): n = count
        case .wouldBlock: return
        case .endOfStream, .failed:
            drop()
            return
        }
        guard !responding else { return }  // while responding, request bytes are discarded
        do {
            switch try parser.feed(UnsafeRawBufferPointer(start: buffer.baseAddress, count: n)) {
            case .needMore: return
            case .complete(let lines, let remainder):
                let request = try HTTPHeadParser.request(lines)
                answer(request, remainder: remainder)
            }
        } catch {
            refused(error.status, path: "")
            respond(.plain(error.status), includeBody: true)
        }
    }

    private func answer(_ request: HTTPRequestHead, remainder: [UInt8]) {
        let hasCapacity = context.clientCount.load(ordering: .relaxed) < context.configuration.maxClients
        switch context.handshake.decide(request, hasCapacity: hasCapacity) {
        case .respond(let response, let includeBody):
            if response.status >= 400 { refused(response.status, path: request.path) }
            respond(response, includeBody: includeBody)
        case .upgrade(let response, let subprotocol):
            guard context.reserveSlot() else {
                refused(503, path: request.path)
                respond(.plain(503, extraHeaders: [("Retry-After", "1")]), includeBody: true)
                return
            }
            upgrade(request: request, response: response, subprotocol: subprotocol, remainder: remainder)
        }
    }

    private func upgrade(request: HTTPRequestHead, response: HTTPResponse, subprotocol: String?, remainder: [UInt8]) {
        cancelDeadline()
        closed = true
        let socket = WebSocket(io: io, role: .server, subprotocol: subprotocol,
                               configuration: context.configuration.webSocket)
        let context = self.context
        socket.finalizeHook = { context.releaseSlot() }
        loop.replaceHandler(io.fd, with: socket)
        socket.enqueueRaw(response.encoded())
        context.onConnection(socket, request)
        socket.start()
        if !remainder.isEmpty {
            var bytes = remainder
            bytes.withUnsafeMutableBytes { socket.process($0) }
        }
    }

    private func refused(_ status: Int, path: String) {
        context.configuration.onRefusal?(status, path, SystemSocket.peerAddress(io.fd))
    }

    private func respond(_ response: HTTPResponse, includeBody: Bool) {
        cancelDeadline()
        responding = true
        pending = response.encoded(includeBody: includeBody)
        pendingOffset = 0
        writePending()
    }

    private func writePending() {
        while pendingOffset < pending.count {
            let offset = pendingOffset
            switch pending.withUnsafeBytes({ io.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }) {
            case .bytes(let count):
                pendingOffset += count
            case .wouldBlock:
                return
            case .endOfStream, .failed:
                drop()
                return
            }
        }
        // Written: half-close and linger, discarding input until the client closes or time is up.
        io.writesDrained()
        io.shutdownOutput()
        pending = []
        deadline = loop.schedule(after: Self.lingerTime) { [weak self] in
            self?.deadline = nil
            self?.drop()
        }
    }

    private func cancelDeadline() {
        if let deadline { loop.cancel(deadline) }
        deadline = nil
    }

    /// Closes the connection without an answer (timeout, server shutdown, peer gone).
    func drop() {
        guard !closed else { return }
        closed = true
        cancelDeadline()
        io.close()
    }
}
