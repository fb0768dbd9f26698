import ParleyProtocol
import ParleyWebSocket
import Synchronization

/// What a client presented when it connected: seen by middleware, kept on the socket.
public final class Handshake: Sendable {
    /// Query parameters of the connection URL, without `nsp`.
    public let query: [String: String]
    /// Request header fields, in arrival order, without the WebSocket mechanics
    /// (`Upgrade`, `Connection`, `Sec-WebSocket-Key`, `Sec-WebSocket-Version`,
    /// `Sec-WebSocket-Extensions`), which mean nothing to an application.
    public let headers: [(name: String, value: String)]
    /// The client's address, `ip:port`; behind a trusted proxy (``Server/Configuration/trustedProxies``),
    /// the client's IP from `X-Forwarded-For` (no port).
    public let address: String
    /// The namespace asked for (query parameter `nsp`, default `/`; for a Socket.IO client,
    /// the namespace of its `CONNECT`).
    public let namespace: String
    /// The `auth` object a Socket.IO client sent with `CONNECT` (nil for envelope clients and
    /// when none was sent).
    public var auth: RawJSON? { extras?.auth }
    /// When the connection was accepted.
    public var issued: ContinuousClock.Instant { Self.epoch.advanced(by: .nanoseconds(Int64(issuedAndSecure & Self.issuedMask))) }
    /// Whether the client connected over TLS (`wss://`, `https://`): to this server, or, behind
    /// a trusted proxy, to the proxy (`X-Forwarded-Proto: https`).
    public var secure: Bool { issuedAndSecure & ~Self.issuedMask != 0 }
    /// ``issued`` as nanoseconds after ``epoch`` (low 63 bits: 292 years) and ``secure`` (the top
    /// bit): 8 bytes for both, where an instant alone takes 16.
    private let issuedAndSecure: UInt64
    private static let issuedMask: UInt64 = 1 << 63 - 1
    /// The instant ``issued`` is counted from: the first handshake of the process.
    private static let epoch = ContinuousClock.now

    /// Nanoseconds from ``epoch`` to now, with `secure` in the top bit (see ``issuedAndSecure``).
    private static func offsetNow(secure: Bool) -> UInt64 {
        let (seconds, attoseconds) = (ContinuousClock.now - epoch).components
        let nanoseconds = UInt64(clamping: seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000) & issuedMask
        return secure ? nanoseconds | ~issuedMask : nanoseconds
    }
    /// Data middleware attaches for the socket (e.g. the authenticated user); the same
    /// storage is `socket.data`. Made on first use: most sockets of a busy server never
    /// touch it, and keep 40 bytes less.
    public var data: SocketData {
        if let data = dataStorage.load() { return data }
        return dataStorage.storeIfNil(SocketData())
    }
    private let dataStorage = AtomicLazyReference<SocketData>()
    /// Connection state recovery parameters (Protocol.md 5.5, 5.6), not part of ``query``, and
    /// ``auth``; nil when the client sent none (most do: 8 bytes per socket rather than 56).
    private let extras: Extras?

    private final class Extras: Sendable {
        let token: String?
        let offset: String?
        let dedupeKey: String?
        let auth: RawJSON?

        init?(token: String?, offset: String?, dedupeKey: String?, auth: RawJSON?) {
            guard token != nil || offset != nil || dedupeKey != nil || auth != nil else { return nil }
            self.token = token
            self.offset = offset
            self.dedupeKey = dedupeKey
            self.auth = auth
        }
    }

    var recoveryToken: String? { extras?.token }
    var recoveryOffset: String? { extras?.offset }
    var dedupeKey: String? { extras?.dedupeKey }

    init(request: HTTPRequestHead, address: String, secure: Bool = false) {
        var query = request.query
        namespace = query.removeValue(forKey: "nsp") ?? "/"
        let token = query.removeValue(forKey: "recoveryToken")
        let offset = query.removeValue(forKey: "recoveryOffset")
        let dedupeKey = query.removeValue(forKey: "dedupeKey")
        extras = Extras(token: token, offset: offset, dedupeKey: dedupeKey, auth: nil)
        self.query = query
        headers = Self.applicationHeaders(request)
        self.address = address
        issuedAndSecure = Self.offsetNow(secure: secure)
    }

    /// A Socket.IO client's handshake: the Engine.IO request's query and headers (as
    /// ``socketIOQuery(_:)`` and ``applicationHeaders(_:)`` give them), and the namespace and
    /// `auth` of its `CONNECT`. With recovery, `auth`'s `pid` and `offset` (Socket.IO 4.6) ask
    /// for the session back (Protocol.md 12.4).
    init(socketIOQuery query: [String: String], headers: [(name: String, value: String)], address: String, secure: Bool = false,
         namespace: String, auth: RawJSON?) {
        self.query = query
        self.headers = headers
        self.address = address
        self.namespace = namespace
        // Socket.IO clients do not deduplicate re-sent events (Protocol.md 12).
        extras = Extras(token: auth?.string(forKey: "pid"), offset: auth?.string(forKey: "offset"), dedupeKey: nil, auth: auth)
        issuedAndSecure = Self.offsetNow(secure: secure)
    }

    /// A Socket.IO client's handshake read from its Engine.IO request (see
    /// ``init(socketIOQuery:headers:address:secure:namespace:auth:)``).
    convenience init(socketIORequest request: HTTPRequestHead, address: String, secure: Bool = false, namespace: String, auth: RawJSON?) {
        self.init(socketIOQuery: Self.socketIOQuery(request), headers: Self.applicationHeaders(request), address: address, secure: secure,
                  namespace: namespace, auth: auth)
    }

    /// The query of an Engine.IO request without Engine.IO's own parameters (`EIO`,
    /// `transport`, `sid`, `t`).
    static func socketIOQuery(_ request: HTTPRequestHead) -> [String: String] {
        var query = request.query
        for key in ["EIO", "transport", "sid", "t"] { query[key] = nil }
        // Emptied, it would still hold its storage: every idle connection keeps this.
        return query.isEmpty ? [:] : query
    }

    /// The request's header fields without the WebSocket mechanics (see ``headers``).
    static func applicationHeaders(_ request: HTTPRequestHead) -> [(name: String, value: String)] {
        request.headers.filter { header in
            switch header.name.lowercased() {
            case "upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions": return false
            default: return true
            }
        }
    }

    /// The first value of a header field, matched case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// Thread-safe per-socket storage for application data.
///
/// ```swift
/// handshake.data["user"] = "ada"
/// let user = socket.data["user"] as? String
/// ```
public final class SocketData: Sendable {
    private let values = Mutex<[String: any Sendable]>([:])

    public subscript(key: String) -> (any Sendable)? {
        get { values.withLock { $0[key] } }
        set { values.withLock { $0[key] = newValue } }
    }

    /// Every value, by key.
    var snapshot: [String: any Sendable] { values.withLock { $0 } }

    /// Takes the values of a recovered session's data.
    func restore(from other: SocketData) {
        let restored = other.values.withLock { $0 }
        values.withLock { $0.merge(restored) { current, _ in current } }
    }
}
