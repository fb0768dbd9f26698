import Foundation

/// The client side of the opening handshake (RFC 6455 4.1): the request, and the checks on
/// the server's answer. Pure: no I/O.
public struct ClientHandshake: Sendable {
    /// The parts of a `ws://` or `wss://` URL.
    public struct Target: Sendable, Equatable {
        public var host: String
        public var port: Int
        /// `wss://`: the connection is TLS (certificate verified against ``host``).
        public var secure: Bool
        /// Path and query, e.g. `/parley?token=abc`.
        public var resource: String

        /// Parses `ws://host[:port]/path?query` or `wss://...`. The port defaults to 80 for `ws`
        /// and 443 for `wss` (RFC 6455 3).
        /// - Throws: ``WebSocketError/invalidURL(_:)`` for another scheme, a missing host, or a
        ///   bad port.
        public init(url: String) throws(WebSocketError) {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
                throw .invalidURL("cannot parse \(url)")
            }
            switch scheme {
            case "ws": secure = false
            case "wss": secure = true
            default: throw .invalidURL("scheme \(scheme):// is not a WebSocket scheme; use ws:// or wss://")
            }
            guard var host = components.host else { throw .invalidURL("no host in \(url)") }
            // URLComponents keeps the brackets of an IPv6 literal on Linux (not on Darwin); the
            // resolver wants the bare address, and request() adds the brackets back for Host.
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw .invalidURL("no host in \(url)") }
            let port = components.port ?? (secure ? 443 : 80)
            guard (1...65535).contains(port) else { throw .invalidURL("port \(port) out of range") }
            self.host = host
            self.port = port
            let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
            self.resource = components.percentEncodedQuery.map { path + "?" + $0 } ?? path
        }
    }

    public let target: Target
    /// The random 16-byte nonce, base64-encoded (RFC 6455 4.1).
    public let key: String
    public let subprotocols: [String]
    public let extraHeaders: [(name: String, value: String)]

    /// - Parameters:
    ///   - target: where to connect.
    ///   - subprotocols: offered in `Sec-WebSocket-Protocol`, in order of preference.
    ///   - extraHeaders: e.g. `Origin`, `Authorization`.
    public init(target: Target, subprotocols: [String] = [], extraHeaders: [(name: String, value: String)] = []) {
        var generator = SystemRandomNumberGenerator()
        self.init(target: target, key: Data((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString(),
                  subprotocols: subprotocols, extraHeaders: extraHeaders)
    }

    /// With a fixed key, for tests.
    public init(target: Target, key: String, subprotocols: [String] = [], extraHeaders: [(name: String, value: String)] = []) {
        self.target = target
        self.key = key
        self.subprotocols = subprotocols
        self.extraHeaders = extraHeaders
    }

    /// The request bytes.
    public func request() -> [UInt8] {
        let hostHeader = target.host.contains(":") ? "[\(target.host)]" : target.host
        var text = "GET \(target.resource) HTTP/1.1\r\nHost: \(hostHeader):\(target.port)\r\n"
        text += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        if !subprotocols.isEmpty { text += "Sec-WebSocket-Protocol: \(subprotocols.joined(separator: ", "))\r\n" }
        for header in extraHeaders { text += "\(header.name): \(header.value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    /// Checks the server's response head (RFC 6455 4.1, the client's checks); returns the
    /// negotiated subprotocol.
    /// - Throws: ``WebSocketError/handshakeRejected(status:reason:)`` for a non-101 status,
    ///   ``WebSocketError/invalidHandshakeResponse(_:)`` for a 101 that fails a check.
    public func validate(responseLines lines: [String]) throws(WebSocketError) -> String? {
        guard let statusLine = lines.first else { throw .invalidHandshakeResponse("empty response") }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw .invalidHandshakeResponse("malformed status line")
        }
        guard status == 101 else { throw .handshakeRejected(status: status, reason: parts.count > 2 ? String(parts[2]) : "") }
        let fields: [(name: String, value: String)]
        do { fields = try HTTPHeadParser.headerFields(lines[1...]) } catch { throw .invalidHandshakeResponse(error.reason) }
        let head = HTTPRequestHead(method: "", target: "", headers: fields)
        guard head.tokens("Upgrade").contains("websocket") else { throw .invalidHandshakeResponse("no Upgrade: websocket") }
        guard head.tokens("Connection").contains("upgrade") else { throw .invalidHandshakeResponse("no Connection: Upgrade") }
        guard head["Sec-WebSocket-Accept"] == ServerHandshake.acceptValue(forKey: key) else {
            throw .invalidHandshakeResponse("wrong Sec-WebSocket-Accept")
        }
        // RFC 6455 4.1: the client MUST fail on an extension or subprotocol it did not offer.
        guard head.tokens("Sec-WebSocket-Extensions").isEmpty else { throw .invalidHandshakeResponse("unrequested extension") }
        let chosen = head["Sec-WebSocket-Protocol"]
        if let chosen, !subprotocols.contains(chosen) { throw .invalidHandshakeResponse("unrequested subprotocol \(chosen)") }
        return chosen
    }
}
