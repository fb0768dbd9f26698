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

/// A complete, small HTTP response: status, headers and body, sent with `Connection: close`
/// unless it is the `101` of an upgrade.
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

    /// The bytes on the wire. `includeBody` is false for an answer to `HEAD`.
    public func encoded(includeBody: Bool = true) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(Self.reasonPhrase(status))\r\n"
        for header in headers { text += "\(header.name): \(header.value)\r\n" }
        if status != 101 {
            text += "Content-Length: \(body.count)\r\nConnection: close\r\n"
        }
        text += "\r\n"
        var bytes = Array(text.utf8)
        if includeBody && status != 101 { bytes += body }
        return bytes
    }

    /// The standard reason phrase of the statuses Parley sends.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 426: return "Upgrade Required"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
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
