@_spi(IO) import ParleyIO

/// Owns an accepted socket while it speaks HTTP/1.1: reads a request head (bounded in size and
/// time), then either upgrades the connection to a ``WebSocket`` (handing it the stream) or
/// sends an HTTP response. After a response the connection closes, or, when it persists (RFC
/// 9112 9.3, ``WebSocketServer/Configuration/keepAliveTimeout``), reads the next request.
///
/// Requests on one connection are answered one at a time, in order: bytes that arrive while a
/// request is answered (a pipelined request, WebSocket frames sent early after an upgrade
/// request) are kept, at most ``WebSocketServer/Configuration/maxHeaderBytes`` of them, and
/// read once the answer is written; past that bound the answer closes the connection.
final class UpgradeHandler: Selectable, DeadlineTarget {
    var io: StreamIO
    unowned let loop: EventLoop
    let context: WebSocketServer.Context
    let counters: ConnectionCounters
    private var parser: HTTPHeadParser
    /// The head's time limit, the wait for the next request, or the lingering close (on the
    /// loop's deadline queues); ``waiting`` says which.
    private var deadline = Deadline.none
    private var waiting = Wait.head
    /// An HTTP response still being written.
    private var pending: [UInt8] = []
    private var pendingOffset = 0
    /// A response is being written, or (after one that closes) the close lingers.
    private var responding = false
    /// The response being written leaves the connection open for the next request.
    private var keepsAlive = false
    private(set) var closed = false
    /// A request handed to an ``HTTPEndpoint`` (HTTPEndpoint.swift), from its head to its answer.
    var pendingEndpoint: EndpointRequest?
    /// Bytes read after the request being answered: the next request, or frames for an upgrade.
    var buffered: [UInt8] = []
    /// More bytes came after the request being answered than ``buffered`` keeps: its answer
    /// closes the connection.
    var overflowed = false
    /// Inside the loop that reads ``buffered`` requests (see ``readNextRequest()``).
    private var readingBuffered = false
    /// The TLS session could not be made (OpenSSL out of memory): the connection is closed at start.
    private var unusable = false
    /// The client's address as the connection caps count it (IPv6 per /64).
    let clientKey: String
    /// The cap the connection counts toward now; nil once its head is answered (see ``endHandshake()``).
    var countedCap: Cap?

    /// What ``deadline`` ends.
    private enum Wait {
        /// A request head being read: past ``WebSocketServer/Configuration/handshakeTimeout``
        /// the connection is dropped unanswered (a slowloris).
        case head
        /// A persistent connection with no request under way: closed at the keep-alive timeout.
        case idle
        /// The half-closed connection after a response that closes.
        case linger
    }

    /// How long to keep reading after an HTTP error response before closing, so the client
    /// receives the response instead of a reset caused by its unread request bytes.
    static let lingerTime: Duration = .seconds(2)

    /// - Parameter clientKey: the client's address as the acceptor counted its handshake
    ///   (``WebSocketServer/Context/beginHandshake(_:)``); the handshake counts until answered.
    init(fd: Int32, loop: EventLoop, context: WebSocketServer.Context, counters: ConnectionCounters, clientKey: String) {
        self.counters = counters
        self.clientKey = clientKey
        countedCap = .handshake
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
        if waiting == .head { counters.handshakeTimedOut() }
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
        guard n > 0 else { return }
        let bytes = UnsafeRawBufferPointer(start: buffer.baseAddress, count: n)
        if responding {
            // The next request, read while this answer is written; after a closing answer,
            // request bytes are discarded.
            if keepsAlive { keep(bytes) }
            return
        }
        if let request = pendingEndpoint {
            if request.responder == nil { receiveEndpointBytes(bytes) } else { keep(bytes) }
            return
        }
        readHead(bytes)
    }

    /// Feeds bytes of a request head to the parser; answers the head once it is complete.
    private func readHead(_ bytes: UnsafeRawBufferPointer) {
        if waiting == .idle {
            // The next request on a persistent connection: its head has the time a new one has.
            loop.cancel(deadline)
            waiting = .head
            deadline = loop.setDeadline(after: context.configuration.handshakeTimeout, for: self)
        }
        do {
            switch try parser.feed(bytes) {
            case .needMore: return
            case .complete(let lines, let remainder):
                let request = try HTTPHeadParser.request(lines)
                buffered = remainder
                answer(request)
            }
        } catch {
            refused(error.status, path: "")
            respond(.plain(error.status), includeBody: true)
        }
    }

    /// Keeps bytes that arrived after the request being answered, up to the head limit.
    func keep(_ bytes: UnsafeRawBufferPointer) {
        guard !overflowed else { return }
        guard buffered.count + bytes.count <= context.configuration.maxHeaderBytes else {
            overflowed = true
            buffered = []
            return
        }
        buffered.append(contentsOf: bytes)
    }

    /// Answers a complete head; the bytes after it are in ``buffered``.
    private func answer(_ request: HTTPRequestHead) {
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
            startEndpoint(endpoint, request)
            return
        }
        let persists = Self.persists(request, bodyRead: false)
        if request.path != context.configuration.path, let route = context.configuration.dynamicRoutes[request.path] {
            let isRead = request.method == "GET" || request.method == "HEAD"
            let response = isRead ? route(request) : .plain(405, extraHeaders: [("Allow", "GET, HEAD")])
            if response.status >= 400 { refused(response.status, path: request.path) }
            return respond(response, includeBody: request.method != "HEAD", keepAlive: persists)
        }
        let hasCapacity = context.clientCount.load(ordering: .relaxed) < context.configuration.maxClients
        switch context.handshake.decide(request, hasCapacity: hasCapacity) {
        case .respond(let response, let includeBody):
            // A refused upgrade closes, as a WebSocket client expects; a route's answer need not.
            let refusesUpgrade = response.status >= 400 && request.path == context.configuration.path
            if response.status >= 400 { refused(response.status, path: request.path) }
            respond(response, includeBody: includeBody, keepAlive: persists && !refusesUpgrade)
        case .upgrade(let response, let subprotocol):
            guard context.reserveSlot() else {
                refused(503, path: request.path)
                respond(.plain(503, extraHeaders: [("Retry-After", "1")]), includeBody: true)
                return
            }
            let remainder = buffered
            buffered = []
            upgrade(request: request, response: response, subprotocol: subprotocol, remainder: remainder,
                    configuration: context.configuration.webSocket, onConnection: context.onConnection)
        }
    }

    /// Whether the connection may stay open after the answer to `request`: the client asks
    /// for it (RFC 9112 9.3), its body was read (or it has none: otherwise where the next
    /// request starts is unknown), and it is not a refused upgrade (the client may have sent
    /// frames after it).
    static func persists(_ request: HTTPRequestHead, bodyRead: Bool) -> Bool {
        guard request.keepsConnectionOpen, request["Upgrade"] == nil else { return false }
        return bodyRead || (request["Transfer-Encoding"] == nil && contentLength(request) == 0)
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

    /// Sends `response`, then closes the connection, or reads the next request when
    /// `keepAlive` and the server allow it: ``WebSocketServer/Configuration/keepAliveTimeout``
    /// is set, the server is not stopping, no more bytes came after the request than are kept
    /// (``WebSocketServer/Configuration/maxHeaderBytes``), and a kept-alive cap has room. The
    /// response says which (`Connection: keep-alive` or `close`).
    func respond(_ response: HTTPResponse, includeBody: Bool, keepAlive: Bool = false) {
        cancelDeadline()
        responding = true
        var timeout: Duration?
        if keepAlive, !overflowed, buffered.count <= context.configuration.maxHeaderBytes,
           let keepAliveTimeout = context.configuration.keepAliveTimeout,
           context.accepting.load(ordering: .acquiring), beginKeptAlive() {
            timeout = keepAliveTimeout
        }
        keepsAlive = timeout != nil
        if !keepsAlive { buffered = [] }
        pending = response.encoded(includeBody: includeBody, keepAliveTimeout: timeout)
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
        io.writesDrained()
        pending = []
        pendingOffset = 0
        if keepsAlive { return readNextRequest() }
        // Written: half-close and linger, discarding input until the client closes or time is up.
        io.shutdownOutput()
        waiting = .linger
        deadline = loop.setDeadline(after: Self.lingerTime, for: self)
    }

    /// A persistent connection's answer is written: reads the next request, from the bytes
    /// kept meanwhile and then from the socket, or waits for one until the keep-alive timeout.
    private func readNextRequest() {
        responding = false
        keepsAlive = false
        guard !buffered.isEmpty else {
            waiting = .idle
            deadline = loop.setDeadline(after: context.configuration.keepAliveTimeout ?? .zero, for: self)
            return
        }
        waiting = .head
        deadline = loop.setDeadline(after: context.configuration.handshakeTimeout, for: self)
        // Pipelined requests answered at once come back here; the outer call reads on.
        guard !readingBuffered else { return }
        readingBuffered = true
        defer { readingBuffered = false }
        while !closed, !responding, pendingEndpoint == nil, !buffered.isEmpty {
            let bytes = buffered
            buffered = []
            bytes.withUnsafeBytes { readHead($0) }
        }
    }

    /// After a failed TLS handshake (its alert is written): half-close and discard what the
    /// client still sends until it closes or ``lingerTime`` passes, so that the client reads the
    /// alert instead of a reset caused by its unread bytes (a refused client certificate is
    /// reported after the client sent its request, in TLS 1.3).
    private func lingerAfterTLSFailure() {
        cancelDeadline()
        responding = true
        keepsAlive = false
        pending = []
        pendingOffset = 0
        io.transport = .plain(io.fd)
        io.writesDrained()
        io.shutdownOutput()
        waiting = .linger
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
