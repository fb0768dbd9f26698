import ParleyIO
import ParleyProtocol
import ParleyWebSocket
import Synchronization

/// The Engine.IO v4 endpoint (`/socket.io/` by default): handshakes, long polls, posts,
/// WebSocket connections and upgrades, CORS; and the table of live sessions.
///
/// Protocol.md section 12.1 lists the answers.
final class SocketIOEndpoint: Sendable {
    /// Engine.IO's error codes, answered as `{"code":N,"message":"..."}`.
    enum ErrorCode: Int, Sendable {
        case unknownTransport = 0
        case unknownSession = 1
        case badHandshakeMethod = 2
        case badRequest = 3
        case forbidden = 4
        case unsupportedProtocolVersion = 5

        var message: String {
            switch self {
            case .unknownTransport: return "Transport unknown"
            case .unknownSession: return "Session ID unknown"
            case .badHandshakeMethod: return "Bad handshake method"
            case .badRequest: return "Bad request"
            case .forbidden: return "Forbidden"
            case .unsupportedProtocolVersion: return "Unsupported protocol version"
            }
        }
    }

    let router: Server.Router
    let settings: EngineIOSession.Settings
    /// ``settings`` as every session of this endpoint holds them.
    let sharedSettings: EngineIOSession.SharedSettings
    /// The largest message and polling body accepted; announced as `maxPayload`.
    let maxPayload: Int
    /// Allowed origins (`*`: every one), for CORS and the `Origin` check.
    let origins: [String]
    /// The most sessions at once (the server's `maxClients`); more handshakes get 503.
    let maxSessions: Int
    /// Frame limits of Engine.IO WebSockets; no RFC 6455 pings (Engine.IO pings itself).
    let webSocketConfiguration: WebSocket.Configuration
    private let connections = Mutex<[RandomID: SocketIOConnection]>([:])

    init(router: Server.Router, webSocket: WebSocket.Configuration) {
        let configuration = router.configuration
        self.router = router
        // Engine.IO needs a heartbeat: without a configured interval, Socket.IO's 25 s.
        settings = EngineIOSession.Settings(pingInterval: configuration.pingInterval ?? .seconds(25),
                                            pingTimeout: configuration.pingTimeout,
                                            maxQueuedBytes: max(4 << 20, 4 * configuration.maxPayload))
        sharedSettings = EngineIOSession.SharedSettings(settings)
        maxPayload = configuration.maxPayload
        origins = configuration.origins
        maxSessions = configuration.maxClients
        var webSocket = webSocket
        webSocket.pingInterval = nil
        webSocketConfiguration = webSocket
    }

    /// Live sessions.
    var count: Int { connections.withLock { $0.count } }

    func remove(_ connection: SocketIOConnection) {
        connections.withLock { if $0[connection.sessionID] === connection { $0[connection.sessionID] = nil } }
    }

    /// Closes every session (server shutdown).
    func closeAll() {
        for connection in connections.withLock({ Array($0.values) }) { connection.close(.serverShuttingDown) }
    }

    /// An error answer: 400 (403 for `forbidden`) with Engine.IO's JSON body.
    static func error(_ code: ErrorCode, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        var body: [UInt8] = Array(#"{"code":\#(code.rawValue),"message":"#.utf8)
        EnvelopeCodec.appendJSONString(code.message, to: &body)
        body.append(UInt8(ascii: "}"))
        return HTTPResponse(status: code == .forbidden ? 403 : 400, headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    // MARK: Requests

    /// Every request under the path (on its connection's loop).
    func handle(_ request: HTTPServerRequest, _ responder: HTTPResponder) {
        let head = request.head
        let origin = head["Origin"]
        // CORS (Fetch standard): a page of another origin may read the answer only if it names
        // that origin; with credentials (cookies), `*` is not allowed, so the origin is echoed.
        let allowed = origin.map { origin in origins.contains("*") || origins.contains { $0.lowercased() == origin.lowercased() } } ?? true
        var cors: [(name: String, value: String)] = []
        if let origin, allowed {
            cors = [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true"), ("Vary", "Origin")]
        }
        if head.method == "OPTIONS" {
            guard allowed else { return responder.respond(Self.error(.forbidden)) }
            var headers = cors + [("Access-Control-Allow-Methods", "GET, POST, OPTIONS")]
            if let requested = head["Access-Control-Request-Headers"] { headers.append(("Access-Control-Allow-Headers", requested)) }
            return responder.respond(HTTPResponse(status: 204, headers: headers))
        }
        let query = head.query
        guard query["EIO"] == EngineIOCodec.protocolVersion else {
            return responder.respond(Self.error(.unsupportedProtocolVersion, headers: cors))
        }
        guard let transport = query["transport"], transport == "polling" || transport == "websocket" else {
            return responder.respond(Self.error(.unknownTransport, headers: cors))
        }
        guard allowed else { return responder.respond(Self.error(.forbidden)) }
        guard let sid = query["sid"] else {
            return handshake(request, transport: transport, responder, cors: cors)
        }
        // An id no session has (or that no session could have) is unknown alike.
        guard let id = RandomID(sid), let connection = connections.withLock({ $0[id] }) else {
            return responder.respond(Self.error(.unknownSession, headers: cors))
        }
        if transport == "websocket" {
            guard head.method == "GET", connection.startUpgrade() else {
                return responder.respond(Self.error(.badRequest, headers: cors))
            }
            responder.upgrade(configuration: webSocketConfiguration) { webSocket in connection.attach(webSocket) }
            return
        }
        switch head.method {
        case "GET": connection.poll(responder, headers: cors)
        case "POST": connection.post(request.body, responder, headers: cors)
        default: responder.respond(Self.error(.badRequest, headers: cors))
        }
    }

    /// A request without `sid`: a new session, on polling or on a WebSocket.
    private func handshake(_ request: HTTPServerRequest, transport: String, _ responder: HTTPResponder,
                           cors: [(name: String, value: String)]) {
        guard request.head.method == "GET" else { return responder.respond(Self.error(.badHandshakeMethod, headers: cors)) }
        guard count < maxSessions else {
            return responder.respond(.plain(503, extraHeaders: [("Retry-After", "1")] + cors))
        }
        let sid = RandomID()
        if transport == "polling" {
            let connection = SocketIOConnection(sessionID: sid, loop: responder.loop, request: request.head,
                                                address: request.remoteAddress, secure: request.isSecure, endpoint: self, webSocket: nil)
            connections.withLock { $0[sid] = connection }
            let open = EngineIOSession.openPacket(sid: sid.description, upgrades: true, settings: settings, maxPayload: maxPayload)
            responder.respond(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; charset=UTF-8")] + cors,
                                           body: EngineIOCodec.encodePayload([open])))
            router.log("parley: socket.io session \(sid) (polling) from \(request.remoteAddress)")
            return
        }
        responder.upgrade(configuration: webSocketConfiguration) { [self] webSocket in
            let connection = SocketIOConnection(sessionID: sid, loop: webSocket.loop, request: request.head,
                                                address: request.remoteAddress, secure: request.isSecure, endpoint: self, webSocket: webSocket)
            connections.withLock { $0[sid] = connection }
            let open = EngineIOSession.openPacket(sid: sid.description, upgrades: false, settings: settings, maxPayload: maxPayload)
            webSocket.send(textUTF8: EngineIOCodec.encode(open))
            connection.attach(webSocket)
            router.log("parley: socket.io session \(sid) (websocket) from \(request.remoteAddress)")
        }
    }
}

extension SocketIOConnection {
    /// Writes one broadcast to the Socket.IO sockets among `sockets`: the envelope is read once
    /// and the Socket.IO packet encoded once, whatever the number of targets. Connections of the
    /// caller's loop are written to at once; the others get one hand-off per loop, as envelope
    /// targets do.
    /// - Parameters:
    ///   - envelope: the event as envelope clients get it; its `offset` (connection state
    ///     recovery) becomes the packet's last argument, as Socket.IO 4.6 sends it.
    ///   - spreadsArguments: `data` is the event's argument list (``EncodedEnvelope/spreadsArguments``).
    ///   - handOff: always hand off through the loops, even for the caller's own: with recovery,
    ///     offsets must reach each client in order, behind what is already queued.
    static func deliver(_ envelope: [UInt8], to sockets: [Socket], namespace: String, volatile: Bool,
                        spreadsArguments: Bool = false, handOff: Bool = false) {
        var offset: String?
        let decoded = envelope.withUnsafeBytes { try? EnvelopeCodec.decode($0, offset: &offset) }
        guard case .event(let name, let data, _)? = decoded else { return }
        let arguments = spreadsArguments ? EventArguments(spreading: data) : EventArguments(data: data)
        let text = SocketIOCodec.encodeMessage(.event(namespace: namespace, name: name, arguments: arguments, id: nil), offset: offset)
        let frame = text.withUnsafeBytes { EncodedFrame(opcode: .text, payload: $0) }
        let message = EngineIOPacket.message(Array(text.dropFirst()))
        var groups: [(loop: EventLoop, connections: [SocketIOConnection])] = []
        for socket in sockets {
            guard case .socketIO(let connection) = socket.link else { continue }
            let loop = connection.loop
            if !handOff && loop.inEventLoop {
                connection.deliver(frame: frame, message: message, volatile: volatile)
            } else if let index = groups.firstIndex(where: { $0.loop === loop }) {
                groups[index].connections.append(connection)
            } else {
                groups.append((loop, [connection]))
            }
        }
        for (loop, connections) in groups {
            loop.execute { for connection in connections { connection.deliver(frame: frame, message: message, volatile: volatile) } }
        }
    }
}
