@_spi(IO) import ParleyIO

/// Owns an accepted socket until its request head is answered: reads the head (bounded in size
/// and time), then either upgrades it to a ``WebSocket`` (handing it the stream) or sends an
/// HTTP response and closes.
final class UpgradeHandler: Selectable, DeadlineTarget {
    var io: StreamIO
    unowned let loop: EventLoop
    let context: WebSocketServer.Context
    let counters: ConnectionCounters
    private var parser: HTTPHeadParser
    /// The head's time limit, then the lingering close's (on the loop's deadline queues).
    private var deadline = Deadline.none
    /// An HTTP response still being written, then a lingering close.
    private var pending: [UInt8] = []
    private var pendingOffset = 0
    private var responding = false
    private(set) var closed = false
    /// A request handed to an ``HTTPEndpoint`` (HTTPEndpoint.swift), from its head to its answer.
    var pendingEndpoint: EndpointRequest?
    /// Bytes after the head of an endpoint's bodiless request, kept for an upgrade.
    var pendingRemainder: [UInt8] = []
    /// The TLS session could not be made (OpenSSL out of memory): the connection is closed at start.
    private var unusable = false
    /// The client host while the handshake counts toward the server's caps (see ``endHandshake()``).
    var handshakeHost: String?

    /// How long to keep reading after an HTTP error response before closing, so the client
    /// receives the response instead of a reset caused by its unread request bytes.
    static let lingerTime: Duration = .seconds(2)

    init(fd: Int32, loop: EventLoop, context: WebSocketServer.Context, counters: ConnectionCounters) {
        self.counters = counters
        var transport = Transport.plain(fd)
        // TLS: the handshake runs inside the first reads, under the same deadline as the head.
        if let tls = context.tls.withLock({ $0 }) {
            do {
                transport = .tls(try TLSConnection(context: tls, fd: fd))
            } catch {
                context.logTLSFailure(error)
                unusable = true
            }
        }
        io = StreamIO(transport: transport, loop: loop)
        self.loop = loop
        self.context = context
        parser = HTTPHeadParser(maxBytes: context.configuration.maxHeaderBytes)
    }

    func start() {
        guard !unusable, io.register(handler: self) else {
            endHandshake()
            io.transport.close()
            return
        }
        // Slowloris: a head not complete in time gets no answer, just a closed connection.
        deadline = loop.setDeadline(after: context.configuration.handshakeTimeout, for: self)
    }

    func deadlineReached(_ reached: Deadline) {
        guard reached == deadline else { return }
        deadline = .none
        // While responding, the lingering close is over; otherwise the head came too late.
        if !responding { counters.handshakeTimedOut() }
        drop()
    }

    package func handleEvents(_ events: IOEvents) {
        if responding && io.shouldWrite(events) { writePending() }
        guard !closed, io.shouldRead(events) else { return }
        readAvailable()
    }

    private func readAvailable() {
        let buffer = loop.readBuffer
        let n: Int
        switch io.read(into: buffer) {
        case .bytes(let count): n = count
        case .wouldBlock: return
        case .endOfStream, .failed:
            if let failure = io.transport.tlsFailure {
                context.logTLSFailure(failure)
                return lingerAfterTLSFailure()
            }
            drop()
            return
        }
        guard n > 0, !responding else { return }  // while responding, request bytes are discarded
        if pendingEndpoint != nil {
            receiveEndpointBytes(UnsafeRawBufferPointer(start: buffer.baseAddress, count: n))
            return
        }
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
        // Endpoints and dynamic routes are answered here, before the handshake's own checks:
        // they are held to the same Host rule.
        guard ServerHandshake.hasValidHost(request) else {
            refused(400, path: request.path)
            return respond(.plain(400), includeBody: request.method != "HEAD")
        }
        if request.path == context.configuration.path, context.limitsRefusals,
           let seconds = context.refusalRetryAfter(for: SystemSocket.peerAddress(io.fd)) {
            refused(429, path: request.path)
            return respond(.plain(429, extraHeaders: [("Retry-After", String(seconds))]), includeBody: true)
        }
        if let endpoint = endpoint(for: request) {
            startEndpoint(endpoint, request, remainder: remainder)
            return
        }
        if request.path != context.configuration.path, let route = context.configuration.dynamicRoutes[request.path] {
            let isRead = request.method == "GET" || request.method == "HEAD"
            let response = isRead ? route(request) : .plain(405, extraHeaders: [("Allow", "GET, HEAD")])
            if response.status >= 400 { refused(response.status, path: request.path) }
            return respond(response, includeBody: request.method != "HEAD")
        }
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
            upgrade(request: request, response: response, subprotocol: subprotocol, remainder: remainder,
                    configuration: context.configuration.webSocket, onConnection: context.onConnection)
        }
    }

    func upgrade(request: HTTPRequestHead, response: HTTPResponse, subprotocol: String?, remainder: [UInt8],
                 configuration: WebSocket.Configuration, onConnection: (WebSocket, HTTPRequestHead) -> Void) {
        cancelDeadline()
        closed = true
        let socket = WebSocket(io: io, role: .server, subprotocol: subprotocol, settings: context.connectionSettings(for: counters))
        counters.acceptedConnection()
        loop.replaceHandler(io.fd, with: socket)
        socket.enqueueRaw(response.encoded())
        onConnection(socket, request)
        socket.start()
        if !remainder.isEmpty {
            var bytes = remainder
            bytes.withUnsafeMutableBytes { socket.process($0) }
        }
    }

    func refused(_ status: Int, path: String) {
        counters.refused(status: status)
        let configuration = context.configuration
        // Refused upgrades and unreadable heads count toward the refusal limit; being over a
        // limit (429) or the server being full (503) is not the client's fault.
        let limited = context.limitsRefusals && status != 429 && status != 503 && (path == configuration.path || path.isEmpty)
        guard limited || configuration.onRefusal != nil || configuration.logger.isEnabled(.debug) else { return }
        let address = SystemSocket.peerAddress(io.fd)
        configuration.logger.debug("parley: refused \(address) \(path): HTTP \(status)")
        configuration.onRefusal?(status, path, address)
        if limited { context.recordRefusal(from: address) }
    }

    func respond(_ response: HTTPResponse, includeBody: Bool) {
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
        deadline = loop.setDeadline(after: Self.lingerTime, for: self)
    }

    /// After a failed TLS handshake (its alert is written): half-close and discard what the
    /// client still sends until it closes or ``lingerTime`` passes, so that the client reads the
    /// alert instead of a reset caused by its unread bytes (a refused client certificate is
    /// reported after the client sent its request, in TLS 1.3).
    private func lingerAfterTLSFailure() {
        cancelDeadline()
        responding = true
        pending = []
        pendingOffset = 0
        io.transport = .plain(io.fd)
        io.writesDrained()
        io.shutdownOutput()
        deadline = loop.setDeadline(after: Self.lingerTime, for: self)
    }

    func cancelDeadline() {
        loop.cancel(deadline)
        deadline = .none
        endHandshake()
    }

    /// Closes the connection without an answer (timeout, server shutdown, peer gone).
    func drop() {
        guard !closed else { return }
        closed = true
        cancelDeadline()
        cancelEndpoint()
        io.close()
    }
}
