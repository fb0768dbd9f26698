import Foundation

/// The head of an HTTP/1.1 request: request line and header fields (RFC 9112).
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: String
    /// The request target as sent: path and optional `?query`.
    public var target: String
    /// `HTTP/1.1`, `HTTP/1.0`, ...
    public var version: String
    /// Header fields in arrival order, names as sent.
    public var headers: [(name: String, value: String)]

    public init(method: String, target: String, version: String = "HTTP/1.1", headers: [(name: String, value: String)] = []) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
    }

    /// The path part of the target, without the query.
    public var path: String {
        guard let q = target.firstIndex(of: "?") else { return target }
        return String(target[..<q])
    }

    /// The query string after `?`, without it; empty when there is none.
    public var queryString: String {
        guard let q = target.firstIndex(of: "?") else { return "" }
        return String(target[target.index(after: q)...])
    }

    /// The query's `name=value` pairs, percent-decoded (`+` as space); the first of a repeated name wins.
    public var query: [String: String] {
        var result: [String: String] = [:]
        for pair in queryString.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            let name = decode(parts[0])
            if result[name] == nil { result[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return result
    }

    /// Whether the connection persists after the answer to this request (RFC 9112 9.3): not
    /// when `Connection` has the `close` option; otherwise yes for HTTP/1.1 (and any later 1.x),
    /// and for HTTP/1.0 only with the `keep-alive` option.
    public var keepsConnectionOpen: Bool {
        let options = tokens("Connection")
        if options.contains("close") { return false }
        // The parser admits major version 1 only: `HTTP/1.x`, the minor digit last.
        guard let minor = version.utf8.last, minor != UInt8(ascii: "0") else { return options.contains("keep-alive") }
        return true
    }

    /// The first value of a header field, matched case-insensitively.
    public subscript(name: String) -> String? {
        headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    /// Every comma-separated token of every field with this name, trimmed, and lowercased
    /// unless `lowercased` is false (subprotocol names are case-sensitive).
    public func tokens(_ name: String, lowercased: Bool = true) -> [String] {
        headers.filter { $0.name.caseInsensitiveEquals(name) }
            .flatMap { $0.value.split(separator: ",") }
            .map { lowercased ? $0.trimmingHTTPWhitespace().lowercased() : String($0.trimmingHTTPWhitespace()) }
            .filter { !$0.isEmpty }
    }

    public static func == (lhs: HTTPRequestHead, rhs: HTTPRequestHead) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.version == rhs.version
            && lhs.headers.elementsEqual(rhs.headers) { $0.name == $1.name && $0.value == $1.value }
    }
}

/// A complete, small HTTP response: status, headers and body. The server adds `Content-Length`
/// and `Connection` (`close`, or `keep-alive` on a persistent connection) when it sends it,
/// except to the `101` of an upgrade.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    /// - Parameters:
    ///   - status: the status code, e.g. 200 or 404.
    ///   - headers: extra header fields; `Content-Length` is added when encoding.
    ///   - body: the body bytes.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain` response whose body is the reason phrase, as Parley sends for refusals.
    public static func plain(_ status: Int, extraHeaders: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")] + extraHeaders,
                     body: Array((reasonPhrase(status) + "\n").utf8))
    }

    /// A resource for ``ServerHandshake/routes`` that browsers may cache and revalidate: its
    /// `ETag` is a hash of `body`, so a request with a matching `If-None-Match` gets `304 Not
    /// Modified` without the body.
    ///
    /// ```swift
    /// configuration.routes["/app.js"] = .resource(bytes, contentType: "text/javascript; charset=utf-8")
    /// ```
    /// - Parameters:
    ///   - body: the resource's bytes.
    ///   - contentType: its media type, e.g. `text/html; charset=utf-8`.
    ///   - cacheControl: `no-cache` by default: the browser keeps its copy but asks each time
    ///     (a cheap 304 when unchanged), so a new version is seen at once though its path is the same.
    public static func resource(_ body: [UInt8], contentType: String, cacheControl: String = "no-cache") -> HTTPResponse {
        HTTPResponse(status: 200, headers: [
            ("Content-Type", contentType), ("ETag", entityTag(for: body)), ("Cache-Control", cacheControl),
        ], body: body)
    }

    /// A strong entity tag for `body` (RFC 9110 8.8.3): the first 16 bytes of its SHA-1 in hex, quoted.
    public static func entityTag(for body: [UInt8]) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var tag: [UInt8] = [UInt8(ascii: "\"")]
        for byte in SHA1.hash(body).prefix(16) {
            tag.append(hex[Int(byte >> 4)])
            tag.append(hex[Int(byte & 0x0F)])
        }
        tag.append(UInt8(ascii: "\""))
        return String(decoding: tag, as: UTF8.self)
    }

    /// The value of this response's `ETag` header field, if it has one.
    public var entityTag: String? {
        headers.first { $0.name.caseInsensitiveEquals("ETag") }?.value
    }

    /// The `304 Not Modified` answer to a conditional request for this resource. RFC 9110
    /// 15.4.5: it carries the validator and caching fields a 200 would (`ETag`, `Cache-Control`,
    /// `Expires`, `Vary`, `Content-Location`, `Date`), and no content.
    public func notModified() -> HTTPResponse {
        let kept = ["etag", "cache-control", "expires", "vary", "content-location", "date"]
        return HTTPResponse(status: 304, headers: headers.filter { kept.contains($0.name.lowercased()) })
    }

    /// The bytes on the wire. A `304` or `204` has neither content nor `Content-Length`
    /// (RFC 9110 15.4.5, 8.6; RFC 9112 6.3).
    /// - Parameters:
    ///   - includeBody: false for an answer to `HEAD`.
    ///   - keepAliveTimeout: nil when the server closes the connection after this response
    ///     (`Connection: close`); otherwise the connection persists (`Connection: keep-alive`,
    ///     which an HTTP/1.0 client needs) and is closed after this long without a request,
    ///     announced as `Keep-Alive: timeout=N` when it is a second or more.
    public func encoded(includeBody: Bool = true, keepAliveTimeout: Duration? = nil) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(Self.reasonPhrase(status))\r\n"
        for header in headers { text += "\(header.name): \(header.value)\r\n" }
        if status != 101 {
            let hasContent = status != 304 && status != 204
            if hasContent { text += "Content-Length: \(body.count)\r\n" }
            if let keepAliveTimeout {
                text += "Connection: keep-alive\r\n"
                let seconds = keepAliveTimeout.components.seconds
                if seconds >= 1 { text += "Keep-Alive: timeout=\(seconds)\r\n" }
            } else {
                text += "Connection: close\r\n"
            }
        }
        text += "\r\n"
        var bytes = Array(text.utf8)
        if includeBody && status != 101 && status != 304 && status != 204 { bytes += body }
        return bytes
    }

    /// The standard reason phrase of the statuses Parley sends.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 204: return "No Content"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 417: return "Expectation Failed"
        case 426: return "Upgrade Required"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }

    public static func == (lhs: HTTPResponse, rhs: HTTPResponse) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body
            && lhs.headers.elementsEqual(rhs.headers) { $0.name == $1.name && $0.value == $1.value }
    }
}

extension StringProtocol {
    func caseInsensitiveEquals(_ other: some StringProtocol) -> Bool {
        utf8.count == other.utf8.count && zip(utf8, other.utf8).allSatisfy { a, b in
            a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= 0x61 && (a | 0x20) <= 0x7A)
        }
    }

    func trimmingHTTPWhitespace() -> Substring {
        let s = Substring(self)
        guard let start = s.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        let end = s.lastIndex(where: { $0 != " " && $0 != "\t" }) ?? start
        return s[start...end]
    }
}
