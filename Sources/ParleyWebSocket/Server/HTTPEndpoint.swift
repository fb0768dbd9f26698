@_spi(IO) import ParleyIO
import CParleySystem
import Synchronization

/// A handler for every HTTP request whose path starts with `prefix`: it receives the request
/// with its body and answers through an ``HTTPResponder``, at once or later (a long poll), or
/// upgrades the connection to a WebSocket after the RFC 6455 checks.
///
/// ```swift
/// configuration.endpoints = [HTTPEndpoint(prefix: "/api/") { request, responder in
///     responder.respond(HTTPResponse(status: 200, body: request.body))
/// }]
/// ```
public struct HTTPEndpoint: Sendable {
    /// Requests whose path starts with this are handed to ``handler``, before any other rule.
    public var prefix: String
    /// The largest request body read; larger gets `413`. 1 MB by default, the message limit
    /// of a WebSocket connection.
    public var maxBodyBytes: Int
    /// Called on the connection's event loop once the body has arrived.
    public var handler: @Sendable (HTTPServerRequest, HTTPResponder) -> Void

    /// - Parameters:
    ///   - prefix: the path prefix, e.g. `/socket.io/`.
    ///   - maxBodyBytes: the largest body accepted (`413` beyond).
    ///   - handler: answers each request through its responder, exactly once.
    public init(prefix: String, maxBodyBytes: Int = 1_000_000,
                handler: @escaping @Sendable (HTTPServerRequest, HTTPResponder) -> Void) {
        self.prefix = prefix
        self.maxBodyBytes = maxBodyBytes
        self.handler = handler
    }
}

/// A request handed to an ``HTTPEndpoint``: the head, the whole body (by `Content-Length`), and
/// the client's address.
public struct HTTPServerRequest: Sendable {
    public let head: HTTPRequestHead
    public let body: [UInt8]
    /// `ip:port` of the client.
    public let remoteAddress: String
    /// Whether the request came over TLS (`https://`).
    public var isSecure = false
}

/// Answers one request handed to an ``HTTPEndpoint``, from any thread, once: later calls and
/// calls after the client went away do nothing.
///
/// `@unchecked Sendable`: `handler` is read and written only on `loop`'s thread; `done` is atomic.
public final class HTTPResponder: @unchecked Sendable {
    /// The loop the connection lives on.
    public let loop: EventLoop
    weak var handler: UpgradeHandler?
    private let done = Atomic<Bool>(false)
    private let cancelHandler = Mutex<(@Sendable () -> Void)?>(nil)

    init(loop: EventLoop, handler: UpgradeHandler) {
        self.loop = loop
        self.handler = handler
    }

    /// Sends `response`. The connection then reads the client's next request when it persists
    /// (RFC 9112 9.3: an HTTP/1.1 request without `Connection: close`; see
    /// ``WebSocketServer/Configuration/keepAliveTimeout``), or closes; the response's
    /// `Connection` field says which.
    /// - Parameter includeBody: false for an answer to `HEAD`.
    public func respond(_ response: HTTPResponse, includeBody: Bool = true) {
        guard claim() else { return }
        onLoop { [self] in $0.respondToEndpoint(response, includeBody: includeBody, from: self) }
    }

    /// Upgrades the connection to a WebSocket after the checks of RFC 6455 4.2.1 (method,
    /// `Upgrade`, `Connection`, version, key, origin allow-list, client limit): on success
    /// `onConnection` runs on the loop before any frame is read; otherwise the client gets the
    /// refusal's status, as on the server's WebSocket path.
    /// - Parameters:
    ///   - configuration: limits and timers of the connection; nil for the server's.
    ///   - onConnection: set the socket's handlers here.
    public func upgrade(configuration: WebSocket.Configuration? = nil, _ onConnection: @escaping @Sendable (WebSocket) -> Void) {
        guard claim() else { return }
        onLoop { [self] in $0.upgradeForEndpoint(configuration: configuration, from: self, onConnection) }
    }

    /// Sets what to do if the client goes away (or the server shuts down) before the answer:
    /// a held long poll ends its wait. Called at most once, on the loop.
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        cancelHandler.withLock { $0 = handler }
    }

    /// Whether an answer was given (or the client is gone).
    public var isAnswered: Bool { done.load(ordering: .acquiring) }

    func cancelled() {
        guard claim() else { return }
        cancelHandler.withLock { handler in
            defer { handler = nil }
            return handler
        }?()
    }

    private func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }

    private func onLoop(_ body: @escaping (UpgradeHandler) -> Void) {
        if loop.inEventLoop {
            if let handler { body(handler) }
        } else {
            // `body` touches the handler only on its loop.
            nonisolated(unsafe) let body = body
            loop.execute { [self] in if let handler { body(handler) } }
        }
    }
}

/// A request on its way to an endpoint: the body being read, then the answer awaited.
struct EndpointRequest {
    let endpoint: HTTPEndpoint
    let head: HTTPRequestHead
    var body: [UInt8]
    let expected: Int
    var responder: HTTPResponder?
}

extension UpgradeHandler {
    /// The endpoint for `request`, if its path has an endpoint's prefix.
    func endpoint(for request: HTTPRequestHead) -> HTTPEndpoint? {
        guard !context.configuration.endpoints.isEmpty else { return nil }
        let path = request.path
        return context.configuration.endpoints.first { path.hasPrefix($0.prefix) }
    }

    /// Starts reading the body of a request for `endpoint` (``buffered``: the bytes after the head).
    func startEndpoint(_ endpoint: HTTPEndpoint, _ request: HTTPRequestHead) {
        // RFC 9112 6.1: a chunked body cannot be bounded before it is read; ask for a length.
        if request["Transfer-Encoding"] != nil {
            refused(411, path: request.path)
            respond(.plain(411), includeBody: true)
            return
        }
        guard let length = Self.contentLength(request) else {
            refused(400, path: request.path)
            respond(.plain(400), includeBody: true)
            return
        }
        guard length <= endpoint.maxBodyBytes else {
            refused(413, path: request.path)
            respond(.plain(413), includeBody: true)
            return
        }
        // RFC 9110 10.1.1: a client that sent `Expect: 100-continue` may wait for an interim
        // 100 before it sends the body (curl waits a second); an expectation Parley does not
        // know gets 417. An HTTP/1.0 request's expectation MUST be ignored.
        if request.version != "HTTP/1.0", let expectation = request["Expect"] {
            guard expectation.trimmingHTTPWhitespace().caseInsensitiveEquals("100-continue") else {
                refused(417, path: request.path)
                respond(.plain(417), includeBody: true)
                return
            }
            if length > 0 && buffered.isEmpty && !writeContinue() { return }
        }
        pendingEndpoint = EndpointRequest(endpoint: endpoint, head: request, body: [], expected: length)
        if length == 0 {
            // What follows the head stays in `buffered`: the next request, or WebSocket frames
            // sent early, for an upgrade.
            dispatchEndpoint()
        } else {
            let remainder = buffered
            buffered = []
            remainder.withUnsafeBytes { receiveEndpointBytes($0) }
        }
    }

    /// Writes the interim `100 Continue`; false when the connection was dropped instead: the
    /// socket took only part of it, and the final answer would follow a broken one (it never
    /// happens while answers are written one at a time, each in full before the next request).
    private func writeContinue() -> Bool {
        let interim = Self.continueResponse
        if case .bytes(interim.count) = interim.withUnsafeBytes({ io.write($0) }) { return true }
        drop()
        return false
    }

    static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Bytes read while an endpoint request's body is incomplete: body bytes, and after the
    /// body the start of the next request (kept for it).
    func receiveEndpointBytes(_ bytes: UnsafeRawBufferPointer) {
        guard var request = pendingEndpoint, request.responder == nil else { return keep(bytes) }
        let wanted = min(bytes.count, request.expected - request.body.count)
        if wanted > 0 { request.body.append(contentsOf: bytes.prefix(wanted)) }
        pendingEndpoint = request
        if wanted < bytes.count { keep(UnsafeRawBufferPointer(rebasing: bytes[wanted...])) }
        if request.body.count == request.expected { dispatchEndpoint() }
    }

    private func dispatchEndpoint() {
        guard var request = pendingEndpoint else { return }
        cancelDeadline()
        let responder = HTTPResponder(loop: loop, handler: self)
        request.responder = responder
        pendingEndpoint = request
        let serverRequest = HTTPServerRequest(head: request.head, body: request.body, remoteAddress: SystemSocket.peerAddress(io.fd),
                                              isSecure: io.isSecure)
        request.endpoint.handler(serverRequest, responder)
    }

    /// The answer of `responder` to the pending request (it answers no other).
    func respondToEndpoint(_ response: HTTPResponse, includeBody: Bool, from responder: HTTPResponder) {
        guard !closed, let request = pendingEndpoint, request.responder === responder else { return }
        pendingEndpoint = nil
        if response.status >= 400 { refused(response.status, path: request.head.path) }
        respond(response, includeBody: includeBody, keepAlive: Self.persists(request.head, bodyRead: true))
    }

    func upgradeForEndpoint(configuration: WebSocket.Configuration?, from responder: HTTPResponder,
                            _ onConnection: @escaping @Sendable (WebSocket) -> Void) {
        guard !closed, let request = pendingEndpoint, request.responder === responder else { return }
        pendingEndpoint = nil
        // Frames sent early beyond what was kept: the WebSocket stream would start mid-frame.
        guard !overflowed else {
            refused(400, path: request.head.path)
            return respond(.plain(400), includeBody: true)
        }
        let remainder = buffered
        buffered = []
        let hasCapacity = context.clientCount.load(ordering: .relaxed) < context.configuration.maxClients
        let handshake = ServerHandshake(path: request.head.path, allowedOrigins: context.configuration.allowedOrigins,
                                        subprotocols: context.configuration.subprotocols, routes: [:])
        switch handshake.decide(request.head, hasCapacity: hasCapacity) {
        case .respond(let response, let includeBody):
            if response.status >= 400 { refused(response.status, path: request.head.path) }
            respond(response, includeBody: includeBody)
        case .upgrade(let response, let subprotocol):
            guard context.reserveSlot() else {
                refused(503, path: request.head.path)
                respond(.plain(503, extraHeaders: [("Retry-After", "1")]), includeBody: true)
                return
            }
            upgrade(request: request.head, response: response, subprotocol: subprotocol, remainder: remainder,
                    configuration: configuration ?? context.configuration.webSocket) { socket, _ in onConnection(socket) }
        }
    }

    /// The client went away (or the server shut down) while an endpoint request was pending.
    func cancelEndpoint() {
        let responder = pendingEndpoint?.responder
        pendingEndpoint = nil
        buffered = []
        responder?.cancelled()
    }

    /// The `Content-Length` of a request: 0 when absent, nil when malformed or repeated with
    /// different values (RFC 9112 6.3).
    static func contentLength(_ request: HTTPRequestHead) -> Int? {
        let values = request.headers.filter { $0.name.caseInsensitiveEquals("Content-Length") }.map(\.value)
        guard let first = values.first else { return 0 }
        guard values.allSatisfy({ $0 == first }), !first.isEmpty, first.utf8.count <= 12,
              first.utf8.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }) else { return nil }
        return Int(first)
    }
}
