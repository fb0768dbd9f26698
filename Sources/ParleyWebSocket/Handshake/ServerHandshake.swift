import ParleyIO
import Foundation

/// The server side of the opening handshake (RFC 6455 4.2), as a pure decision.
///
/// Given a parsed request head, it answers with a `101` and the negotiated subprotocol, a plain
/// HTTP response for a registered route, or a refusal with the status that says why.
public struct ServerHandshake: Sendable {
    /// The answer to one request.
    public enum Decision: Sendable, Equatable {
        /// Upgrade: send `response` (a `101`), then speak WebSocket.
        case upgrade(response: HTTPResponse, subprotocol: String?)
        /// Answer with `response` and close; `includeBody` is false for `HEAD`.
        case respond(HTTPResponse, includeBody: Bool)
    }

    /// The path WebSocket upgrades are accepted on, e.g. `/` or `/parley`.
    public var path: String
    /// Allowed `Origin` values; `*` allows every origin. Requests without `Origin` are allowed.
    public var allowedOrigins: [String]
    /// Subprotocols the server speaks, in the server's order of preference.
    public var subprotocols: [String]
    /// Plain HTTP resources served on GET and HEAD, by path.
    public var routes: [String: HTTPResponse]

    public init(path: String, allowedOrigins: [String], subprotocols: [String], routes: [String: HTTPResponse]) {
        self.path = path
        self.allowedOrigins = allowedOrigins
        self.subprotocols = subprotocols
        self.routes = routes
    }

    /// Whether an `If-None-Match` field value matches `tag` (RFC 9110 13.1.2): `*`, or a list
    /// of entity tags one of which equals `tag` by weak comparison (a `W/` prefix is ignored).
    /// A malformed list matches nothing, so the full resource is sent.
    static func ifNoneMatch(_ condition: String, matches tag: String) -> Bool {
        let value = condition.trimmingHTTPWhitespace()
        if value == "*" { return true }
        let wanted = opaqueTag(Substring(tag))
        var rest = value[...]
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "\t" || $0 == "," }
            if rest.isEmpty { break }
            if rest.hasPrefix("W/") { rest = rest.dropFirst(2) }
            // RFC 9110 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc may include commas.
            guard rest.first == "\"", let close = rest.dropFirst().firstIndex(of: "\"") else { return false }
            if rest[rest.startIndex...close] == wanted { return true }
            rest = rest[rest.index(after: close)...]
        }
        return false
    }

    /// `tag` without a weak prefix: `W/"x"` -> `"x"`.
    private static func opaqueTag(_ tag: Substring) -> Substring {
        tag.hasPrefix("W/") ? tag.dropFirst(2) : tag
    }

    /// Whether a Host value is one authority (RFC 9112 3.2, RFC 3986 3.2): no whitespace and no
    /// comma (two values folded into one field). Empty is valid (RFC 9112 3.2).
    static func isValidHost(_ value: String) -> Bool {
        !value.utf8.contains { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: ",") }
    }

    /// The GUID of RFC 6455 1.3, appended to the client's key before hashing.
    static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 4.2.2): base64(SHA-1(key + GUID)).
    public static func acceptValue(forKey key: String) -> String {
        Data(SHA1.hash(Array((key + acceptGUID).utf8))).base64EncodedString()
    }

    /// Whether `request` meets RFC 9112 3.2's Host rule, which every request the server answers
    /// is held to (upgrades, routes, endpoints): a server MUST answer 400 to an HTTP/1.1 request
    /// without a Host field, with more than one Host field line, or with an invalid Host value
    /// (RFC 6455 4.2.1 requires Host for the upgrade too). HTTP/1.0 may leave it out.
    public static func hasValidHost(_ request: HTTPRequestHead) -> Bool {
        let hosts = request.headers.filter { $0.name.caseInsensitiveEquals("Host") }
        if hosts.count > 1 || (hosts.isEmpty && request.version != "HTTP/1.0") { return false }
        return hosts.allSatisfy { isValidHost($0.value) }
    }

    /// Decides the answer to `request`. `hasCapacity` is false when the client limit is reached.
    public func decide(_ request: HTTPRequestHead, hasCapacity: Bool) -> Decision {
        guard Self.hasValidHost(request) else {
            return .respond(.plain(400), includeBody: request.method != "HEAD")
        }
        let requestPath = request.path
        guard requestPath == path else {
            if let resource = routes[requestPath] {
                switch request.method {
                case "GET", "HEAD":
                    // RFC 9110 13.1.2: a GET or HEAD whose If-None-Match names the current
                    // entity tag gets 304 Not Modified.
                    if let tag = resource.entityTag, let condition = request["If-None-Match"],
                       Self.ifNoneMatch(condition, matches: tag) {
                        return .respond(resource.notModified(), includeBody: false)
                    }
                    return .respond(resource, includeBody: request.method == "GET")
                default: return .respond(.plain(405, extraHeaders: [("Allow", "GET, HEAD")]), includeBody: true)
                }
            }
            return .respond(.plain(404), includeBody: request.method != "HEAD")
        }
        // RFC 6455 4.2.1: the upgrade request MUST be a GET of HTTP/1.1 or higher.
        guard request.method == "GET" else {
            return .respond(.plain(405, extraHeaders: [("Allow", "GET")]), includeBody: request.method != "HEAD")
        }
        // RFC 6455 4.2.1: `Upgrade: websocket` and a `Connection` that includes `Upgrade`.
        guard request.tokens("Upgrade").contains("websocket") else {
            return .respond(.plain(426, extraHeaders: [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]), includeBody: true)
        }
        // RFC 6455 4.1 asks for HTTP/1.1 or higher; HTTP/1.1 is the only such version that
        // exists, so any other (HTTP/1.0, or a made-up HTTP/1.9) is refused.
        guard request.version == "HTTP/1.1", request.tokens("Connection").contains("upgrade") else {
            return .respond(.plain(400), includeBody: true)
        }
        // RFC 6455 4.2.2: an unsupported version gets 426 and the versions the server speaks.
        guard request["Sec-WebSocket-Version"]?.trimmingHTTPWhitespace() == "13" else {
            return .respond(.plain(426, extraHeaders: [("Sec-WebSocket-Version", "13")]), includeBody: true)
        }
        // RFC 6455 4.2.1: the key is base64 of 16 bytes.
        guard let key = request["Sec-WebSocket-Key"], Data(base64Encoded: key)?.count == 16 else {
            return .respond(.plain(400), includeBody: true)
        }
        // RFC 6455 10.2: browsers send Origin; a server may refuse origins it does not trust.
        // RFC 6454 7.3: Origin occurs at most once; with restricted origins, two are refused
        // rather than letting one of them decide.
        if !allowedOrigins.contains("*") {
            let origins = request.headers.filter { $0.name.caseInsensitiveEquals("Origin") }
            if origins.count > 1 { return .respond(.plain(403), includeBody: true) }
            if let origin = origins.first?.value, !allowedOrigins.contains(where: { $0.caseInsensitiveEquals(origin) }) {
                return .respond(.plain(403), includeBody: true)
            }
        }
        guard hasCapacity else { return .respond(.plain(503, extraHeaders: [("Retry-After", "1")]), includeBody: true) }
        // RFC 6455 4.2.2: pick at most one of the client's subprotocols; extensions such as
        // permessage-deflate are declined by leaving Sec-WebSocket-Extensions out.
        let offered = request.tokens("Sec-WebSocket-Protocol", lowercased: false)
        let chosen = subprotocols.first { offered.contains($0) }
        var headers: [(name: String, value: String)] = [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", Self.acceptValue(forKey: key)),
        ]
        if let chosen { headers.append(("Sec-WebSocket-Protocol", chosen)) }
        return .upgrade(response: HTTPResponse(status: 101, headers: headers), subprotocol: chosen)
    }
}
