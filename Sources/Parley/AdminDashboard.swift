import Foundation
import ParleyProtocol
import ParleyWebSocket
import Synchronization

/// The live admin dashboard (``Server/Configuration/Admin``): the page's routes, the token
/// check, and the sampler that feeds open dashboards over their namespace.
///
/// The sampler runs only while at least one dashboard socket is connected: a timer on that
/// socket's event loop, once a second, that reads ``Server/metrics``, keeps a point of
/// history and emits a snapshot to the namespace. With nobody watching, nothing runs.
final class AdminDashboard: Sendable {
    /// One second of history.
    struct Point: Codable, Sendable, Equatable {
        /// Milliseconds since 1970.
        var time: Double
        var connections: Int
        var messagesInPerSecond: Double
        var messagesOutPerSecond: Double
    }

    /// What one sampler tick sends: counters, rates, namespaces and rooms. No message contents.
    struct Snapshot: Encodable {
        struct Room: Encodable { var name: String; var members: Int }
        struct NamespaceState: Encodable { var name: String; var sockets: Int; var roomCount: Int; var rooms: [Room] }
        struct Cluster: Encodable { var kind: String; var connected: Bool; var publishesDropped: Int; var entriesMissed: Int }
        var point: Point
        var connectionsAccepted: Int
        var messagesReceived: Int
        var messagesSent: Int
        var bytesInPerSecond: Double
        var bytesOutPerSecond: Double
        var volatileDropped: Int
        var sendQueueFullCloses: Int
        var pendingAcks: Int
        var refusals: [String: Int]
        var namespaces: [NamespaceState]
        var cluster: Cluster?
    }

    /// A member of a room as the dashboard lists it.
    struct Member: Encodable {
        var id: String
        var address: String
        /// Seconds since the connection was accepted.
        var connectedFor: Double
    }

    private struct State {
        var watchers = 0
        /// Bumped whenever the sampler starts or stops, so a tick of an earlier run ends itself.
        var generation = 0
        var timer: Scheduled?
        var history: [Point] = []
        var previous: (instant: ContinuousClock.Instant, metrics: Server.Metrics)?
    }

    /// Seconds of history kept: ten minutes of one point per second (about 40 KB).
    static let historyLength = 600
    /// Rooms listed per namespace, largest first: a page, not a database dump.
    static let roomsShown = 100
    /// Members listed for one room.
    static let membersShown = 500
    /// How often the sampler runs while someone watches.
    static let interval: Duration = .seconds(1)

    let admin: Server.Configuration.Admin
    /// The page's path, e.g. `/parley/admin`.
    let path: String
    let router: Server.Router
    let reference: ServerReference
    private let state = Mutex(State())

    init(_ admin: Server.Configuration.Admin, path: String, router: Server.Router, reference: ServerReference) {
        self.admin = admin
        self.path = path
        self.router = router
        self.reference = reference
    }

    // MARK: Routes and token

    /// Adds the page (behind the token) and its script, styles and client (public: they hold
    /// no data) to `transport`, and opens the namespace.
    func install(on transport: inout WebSocketServer.Configuration) {
        transport.dynamicRoutes[path] = { [self] request in page(request) }
        transport.routes[path + "/admin.js"] = Self.script
        transport.routes[path + "/admin.css"] = Self.styles
        transport.routes[path + "/parley.js"] = Server.clientScript
        let namespace = router.namespace(admin.namespace, create: true) ?? router.main
        namespace.use { [self] handshake in
            guard authorized(token: handshake.query["token"], authorization: handshake.header("Authorization")) else {
                throw ConnectError("unauthorized")
            }
        }
        namespace.onConnection { [self] socket in watch(socket) }
    }

    static let script = HTTPResponse.resource(PackageResources.admin_js, contentType: "text/javascript; charset=utf-8")
    static let styles = HTTPResponse.resource(PackageResources.admin_css, contentType: "text/css; charset=utf-8")

    /// The page for an authorized request, else 401.
    func page(_ request: HTTPRequestHead) -> HTTPResponse {
        guard authorized(token: request.query["token"], authorization: request["Authorization"]) else {
            return HTTPResponse(status: 401, headers: [
                ("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", #"Bearer realm="parley admin""#),
                ("Cache-Control", "no-store"),
            ], body: Array("Unauthorized: open this page with ?token=... or Authorization: Bearer ...\n".utf8))
        }
        // The namespace and the token go into the page: a page opened with a header (through a
        // proxy that adds it) has no token in its address to give its socket.
        var html = String(decoding: PackageResources.admin_html, as: UTF8.self)
        html = html.replacingOccurrences(of: "{{namespace}}", with: Self.htmlAttribute(admin.namespace))
        html = html.replacingOccurrences(of: "{{token}}", with: Self.htmlAttribute(admin.token))
        return HTTPResponse(status: 200, headers: [
            ("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'"),
        ], body: Array(html.utf8))
    }

    /// Whether the query token or an `Authorization: Bearer` header holds the configured token.
    func authorized(token: String?, authorization: String?) -> Bool {
        if let token, Self.constantTimeEquals(token, admin.token) { return true }
        if let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " {
            return Self.constantTimeEquals(String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces), admin.token)
        }
        return false
    }

    /// Compares `given` with `expected` in time that depends on `expected`'s length only, not
    /// on where they differ; an empty `expected` matches nothing.
    static func constantTimeEquals(_ given: String, _ expected: String) -> Bool {
        let given = Array(given.utf8)
        let expected = Array(expected.utf8)
        guard !expected.isEmpty else { return false }
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in expected.indices {
            difference |= expected[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }

    /// `text` for an HTML attribute value in double quotes.
    static func htmlAttribute(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "\"": escaped += "&quot;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    // MARK: Watchers and the sampler

    /// A dashboard connected: send it the history, answer its room requests, and start the
    /// sampler if it is the first.
    private func watch(_ socket: Socket) {
        let (history, generation) = state.withLock { state -> ([Point], Int?) in
            state.watchers += 1
            guard state.watchers == 1 else { return (state.history, nil) }
            state.generation += 1
            state.previous = nil
            return (state.history, state.generation)
        }
        try? socket.emit("history", history)
        socket.on("room") { [self] (request: RoomRequest, ack: Ack) in ack(members(request)) }
        socket.onDisconnect { [self] _ in
            let timer = state.withLock { state -> Scheduled? in
                state.watchers -= 1
                guard state.watchers == 0 else { return nil }
                state.generation += 1
                defer { state.timer = nil }
                return state.timer
            }
            timer?.cancel()
        }
        if let generation { tick(on: socket.loop, generation: generation) }
    }

    struct RoomRequest: Decodable, Sendable {
        var namespace: String
        var room: String
    }

    /// The members of one room: ids, addresses and connection times, at most ``membersShown``.
    private func members(_ request: RoomRequest) -> [Member] {
        guard let namespace = router.namespace(request.namespace, create: false) else { return [] }
        let now = ContinuousClock.now
        return namespace.roomStore.sockets(BroadcastSelection(namespace: namespace.name, rooms: [request.room]))
            .prefix(Self.membersShown)
            .map { socket in
                let age = now - socket.handshake.issued
                return Member(id: socket.id, address: socket.handshake.address,
                              connectedFor: Double(age.components.seconds) + Double(age.components.attoseconds) * 1e-18)
            }
    }

    /// One sampler run: snapshot, history, emit; then the next one, while someone watches.
    private func tick(on loop: EventLoop, generation: Int) {
        guard let server = reference.server else { return }
        let metrics = server.metrics
        let now = ContinuousClock.now
        let snapshot = state.withLock { state -> Snapshot? in
            guard state.generation == generation else { return nil }
            let rates = Self.rates(from: state.previous, to: (now, metrics))
            state.previous = (now, metrics)
            let point = Point(time: (Date().timeIntervalSince1970 * 1000).rounded(), connections: metrics.connectionsOpen,
                              messagesInPerSecond: rates.messagesIn, messagesOutPerSecond: rates.messagesOut)
            state.history.append(point)
            if state.history.count > Self.historyLength { state.history.removeFirst(state.history.count - Self.historyLength) }
            return Snapshot(point: point, connectionsAccepted: metrics.connectionsAccepted,
                            messagesReceived: metrics.messagesReceived, messagesSent: metrics.messagesSent,
                            bytesInPerSecond: rates.bytesIn, bytesOutPerSecond: rates.bytesOut,
                            volatileDropped: metrics.volatileDropped, sendQueueFullCloses: metrics.sendQueueFullCloses,
                            pendingAcks: metrics.pendingAcks,
                            refusals: Dictionary(uniqueKeysWithValues: metrics.refusals.map { ($0.key.rawValue, $0.value) }),
                            namespaces: namespaces(metrics),
                            cluster: metrics.cluster.map {
                                .init(kind: $0.kind, connected: $0.connected, publishesDropped: $0.publishesDropped,
                                      entriesMissed: $0.entriesMissed)
                            })
        }
        guard let snapshot else { return }
        try? router.namespace(admin.namespace, create: false)?.emit("snapshot", snapshot)
        let timer = loop.execute(after: Self.interval) { [weak self] in self?.tick(on: loop, generation: generation) }
        let current = state.withLock { state -> Bool in
            guard state.generation == generation else { return false }
            state.timer = timer
            return true
        }
        if !current { timer.cancel() }
    }

    private func namespaces(_ metrics: Server.Metrics) -> [Snapshot.NamespaceState] {
        router.namespaces.withLock { Array($0.values) }
            .sorted { $0.name < $1.name }
            .map { namespace in
                let rooms = namespace.roomStore.roomSizes
                let largest = rooms.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(Self.roomsShown)
                return Snapshot.NamespaceState(name: namespace.name, sockets: metrics.sockets[namespace.name] ?? 0,
                                               roomCount: rooms.count, rooms: largest.map { Snapshot.Room(name: $0.key, members: $0.value) })
            }
    }

    /// Messages and bytes per second between two samples; zeros for the first.
    static func rates(from previous: (instant: ContinuousClock.Instant, metrics: Server.Metrics)?,
                      to current: (instant: ContinuousClock.Instant, metrics: Server.Metrics))
        -> (messagesIn: Double, messagesOut: Double, bytesIn: Double, bytesOut: Double) {
        guard let previous else { return (0, 0, 0, 0) }
        let elapsed = current.instant - previous.instant
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        guard seconds > 0 else { return (0, 0, 0, 0) }
        func rate(_ field: KeyPath<Server.Metrics, Int>) -> Double {
            (Double(max(0, current.metrics[keyPath: field] - previous.metrics[keyPath: field])) / seconds * 10).rounded() / 10
        }
        return (rate(\.messagesReceived), rate(\.messagesSent), rate(\.bytesReceived), rate(\.bytesSent))
    }
}
