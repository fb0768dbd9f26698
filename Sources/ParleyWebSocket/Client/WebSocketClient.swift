@_spi(IO) import ParleyIO

/// Opens client connections: `ws://` and `wss://` URLs, the opening handshake, then the same
/// ``WebSocket`` (codec, close handshake, queue) the server uses, with masked frames.
///
/// `wss://` verifies the server's certificate chain against the system trust store and its
/// names against the URL's host (sent as SNI; an IP literal is checked against the certificate's
/// IP addresses); see ``Configuration/tls`` for a private CA or a client certificate.
///
/// ```swift
/// let socket = try await WebSocketClient.connect(to: "wss://chat.example.com/chat?token=abc") { socket in
///     socket.onMessage { _, message in print(message) }
/// }
/// socket.send(text: "hello")
/// ```
public enum WebSocketClient {
    /// Options of a client connection. Every default is explained where it is declared.
    public struct Configuration: Sendable {
        /// Extra request headers, e.g. `Origin` or `Authorization`.
        public var headers: [(name: String, value: String)] = []
        /// Subprotocols offered, in order of preference.
        public var subprotocols: [String] = []
        /// TCP connect plus opening handshake must finish within this. 10 s: a slow network
        /// still connects; a dead address fails while the user is still waiting.
        public var connectTimeout: Duration = .seconds(10)
        /// Largest response head accepted. 16 KiB, as the server's request limit.
        public var maxHeaderBytes = 16 * 1024
        /// Limits and timers of the connection. Clients answer pings but do not send them by
        /// default (the server watches liveness); set `pingInterval` to watch the server too.
        public var webSocket: WebSocket.Configuration = {
            var configuration = WebSocket.Configuration()
            configuration.pingInterval = nil
            return configuration
        }()
        /// TLS of `wss://` URLs: trust, verification, a client certificate (mutual TLS). nil by
        /// default, which is `TLSConfiguration()`: the system's CAs, the host name checked, TLS 1.2
        /// at least. ALPN offers `http/1.1` when the configuration names no protocol. Unused for `ws://`.
        public var tls: TLSConfiguration?

        public init() {}
    }

    /// Connects and completes the opening handshake.
    /// - Parameters:
    ///   - url: `ws://host[:port]/path[?query]`; `host` may be a name (`localhost`) or a literal.
    ///   - configuration: headers, subprotocols, timeouts and limits.
    ///   - group: the loops to run on; by default a shared one-loop group.
    ///   - onOpen: called on the connection's loop before any frame is read: set handlers here
    ///     so that no message is missed.
    /// - Returns: the open connection.
    /// - Throws: ``WebSocketError/invalidURL(_:)``,
    ///   ``WebSocketError/connectFailed(host:port:errno:)``, ``WebSocketError/connectTimeout``,
    ///   ``WebSocketError/tls(_:)`` (OpenSSL missing, a configuration that cannot be loaded, a
    ///   refused certificate, a failed TLS handshake),
    ///   ``WebSocketError/handshakeRejected(status:reason:)`` and
    ///   ``WebSocketError/invalidHandshakeResponse(_:)``.
    public static func connect(to url: String, configuration: Configuration = Configuration(),
                               group: EventLoopGroup = .shared,
                               onOpen: @escaping @Sendable (WebSocket) -> Void = { _ in }) async throws -> WebSocket {
        SystemSocket.ignoreSIGPIPE()
        let target = try ClientHandshake.Target(url: url)
        let tls = target.secure ? try ClientTLSContexts.shared.context(for: configuration.tls ?? TLSConfiguration()) : nil
        let addresses: [sockaddr_storage]
        switch SystemSocket.resolve(host: target.host, port: target.port) {
        case .success(let found): addresses = found
        case .failure(let error): throw WebSocketError.connectFailed(host: target.host, port: target.port, errno: error.code)
        }
        let handshake = ClientHandshake(target: target, subprotocols: configuration.subprotocols, extraHeaders: configuration.headers)
        let loop = group.next()
        return try await withCheckedThrowingContinuation { continuation in
            loop.execute {
                Connector(loop: loop, handshake: handshake, addresses: addresses, configuration: configuration, tls: tls,
                          onOpen: onOpen) { result in
                    continuation.resume(with: result)
                }.start()
            }
        }
    }
}

/// Drives one client connection from TCP connect to the `101`: tries each resolved address in
/// turn, writes the request, and checks the response; then hands its stream to a ``WebSocket``.
final class Connector: Selectable {
    private unowned let loop: EventLoop
    private let handshake: ClientHandshake
    private var dialer: StreamIO.Dialer
    private let configuration: WebSocketClient.Configuration
    /// The TLS context of a `wss://` connection; nil for `ws://`.
    private let tls: TLSContext?
    private let onOpen: @Sendable (WebSocket) -> Void
    private var completion: ((Result<WebSocket, WebSocketError>) -> Void)?
    /// The connection being set up; nil between addresses and once handed over or failed.
    private var io: StreamIO?
    private var connected = false
    private var request: [UInt8]
    private var requestOffset = 0
    private var parser: HTTPHeadParser
    private var deadline: TimerID?

    init(loop: EventLoop, handshake: ClientHandshake, addresses: [sockaddr_storage], configuration: WebSocketClient.Configuration,
         tls: TLSContext?, onOpen: @escaping @Sendable (WebSocket) -> Void,
         completion: @escaping (Result<WebSocket, WebSocketError>) -> Void) {
        self.tls = tls
        self.loop = loop
        self.handshake = handshake
        dialer = StreamIO.Dialer(addresses: addresses)
        self.configuration = configuration
        self.onOpen = onOpen
        self.completion = completion
        request = handshake.request()
        parser = HTTPHeadParser(maxBytes: configuration.maxHeaderBytes)
    }

    func start() {
        deadline = loop.schedule(after: configuration.connectTimeout) { [self] in
            deadline = nil
            fail(.connectTimeout)
        }
        tryNextAddress()
    }

    private func tryNextAddress() {
        guard completion != nil else { return }
        guard let started = dialer.next(on: loop, handler: self) else {
            fail(.connectFailed(host: handshake.target.host, port: handshake.target.port, errno: dialer.lastErrno))
            return
        }
        io = started
    }

    package func handleEvents(_ events: IOEvents) {
        guard completion != nil, io != nil else { return }
        if !connected {
            let code = io?.finishConnect(events) ?? EBADF
            guard code == 0 else {
                dialer.failed(code)
                io?.close()
                io = nil
                tryNextAddress()
                return
            }
            connected = true
            if let tls, !startTLS(tls) { return }
        }
        if requestOffset < request.count {
            writeRequest()
            return
        }
        guard io?.shouldRead(events) == true else { return }
        readResponse()
    }

    /// Puts a TLS session over the connected socket: writing the request drives its handshake.
    private func startTLS(_ tls: TLSContext) -> Bool {
        guard let fd = io?.fd else { return false }
        do {
            io?.transport = .tls(try TLSConnection(context: tls, fd: fd, serverName: handshake.target.host))
            return true
        } catch {
            fail(.tls(error))
            return false
        }
    }

    /// Why the stream failed: the TLS error when the session failed, else `otherwise`.
    private func failure(_ otherwise: WebSocketError) -> WebSocketError {
        io?.transport.tlsFailure.map { .tls($0) } ?? otherwise
    }

    private func writeRequest() {
        while requestOffset < request.count {
            let offset = requestOffset
            guard let result = request.withUnsafeBytes({ io?.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }) else { return }
            switch result {
            case .bytes(let count):
                requestOffset += count
            case .wouldBlock:
                return
            case .endOfStream:
                fail(failure(.invalidHandshakeResponse("connection closed before the handshake response")))
                return
            case .failed(let code):
                fail(failure(.connectFailed(host: handshake.target.host, port: handshake.target.port, errno: code)))
                return
            }
        }
        io?.writesDrained()
    }

    private func readResponse() {
        let buffer = loop.readBuffer
        guard let result = io?.read(into: buffer) else { return }
        let n: Int
        switch result {
        case .bytes(let count): n = count
        case .wouldBlock: return
        case .endOfStream, .failed:
            // A TLS server answers a plaintext request by closing: say what to try.
            let hint = handshake.target.secure ? "" : " (if the server speaks TLS, use wss://)"
            fail(failure(.invalidHandshakeResponse("connection closed before the handshake response" + hint)))
            return
        }
        let lines: [String]
        let remainder: [UInt8]
        do {
            switch try parser.feed(UnsafeRawBufferPointer(start: buffer.baseAddress, count: n)) {
            case .needMore: return
            case .complete(let headLines, let rest): (lines, remainder) = (headLines, rest)
            }
        } catch {
            fail(.invalidHandshakeResponse(error.reason))
            return
        }
        let subprotocol: String?
        do { subprotocol = try handshake.validate(responseLines: lines) } catch {
            fail(error)
            return
        }
        open(subprotocol: subprotocol, remainder: remainder)
    }

    private func open(subprotocol: String?, remainder: [UInt8]) {
        guard let stream = io else { return }
        if let deadline { loop.cancel(deadline) }
        deadline = nil
        let socket = WebSocket(io: stream, role: .client, subprotocol: subprotocol, configuration: configuration.webSocket)
        loop.replaceHandler(stream.fd, with: socket)
        io = nil
        onOpen(socket)
        socket.start()
        let done = completion
        completion = nil
        done?(.success(socket))
        if !remainder.isEmpty {
            var bytes = remainder
            bytes.withUnsafeMutableBytes { socket.process($0) }
        }
    }

    private func fail(_ error: WebSocketError) {
        guard let done = completion else { return }
        completion = nil
        if let deadline { loop.cancel(deadline) }
        deadline = nil
        io?.close()
        io = nil
        done(.failure(error))
    }
}
