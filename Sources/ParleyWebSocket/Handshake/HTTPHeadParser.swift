/// An incremental, bounded parser for the head of an HTTP/1.1 message (request or response).
///
/// Bytes accumulate until the blank line that ends the head; a head longer than `maxBytes`
/// fails with 431 before more is buffered. Pure: no I/O.
public struct HTTPHeadParser: Sendable {
    /// Why a head was refused, with the HTTP status that says so.
    public struct Failure: Error, Sendable, Equatable {
        public var status: Int
        public var reason: String
    }

    /// The result of feeding bytes.
    public enum Result: Sendable, Equatable {
        /// The head is not complete yet.
        case needMore
        /// The head is complete: its lines, and the bytes after it (e.g. frames the peer sent early).
        case complete(lines: [String], remainder: [UInt8])
    }

    /// The largest head accepted, in bytes (431 beyond).
    public let maxBytes: Int
    private var buffer: [UInt8] = []
    /// How far the search for the blank line has already looked.
    private var scanned = 0

    public init(maxBytes: Int) { self.maxBytes = maxBytes }

    /// The first byte of a TLS handshake record (content type `handshake`, RFC 8446 5.1).
    static let tlsHandshakeRecord: UInt8 = 0x16

    /// Adds bytes; returns the head's lines once it is complete.
    /// - Throws: ``Failure`` with status 431 when the head exceeds `maxBytes`, 400 when it is not
    ///   text or starts as a TLS handshake (a `wss://` or `https://` client on a plain port: refused
    ///   at once rather than after the head timeout).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Result {
        // RFC 8446 5.1: a TLS record starts with its content type, 22 for a handshake; an HTTP
        // message starts with a token or "HTTP/" (RFC 9112 2.1), never with that byte.
        if buffer.isEmpty, bytes.first == Self.tlsHandshakeRecord {
            throw Failure(status: 400, reason: "a TLS handshake on a plain HTTP port (use ws:// and http://, or serve TLS)")
        }
        buffer.append(contentsOf: bytes)
        var end: Int?
        var i = max(scanned, 3)
        while i < buffer.count {
            if buffer[i] == 0x0A && buffer[i - 1] == 0x0D && buffer[i - 2] == 0x0A && buffer[i - 3] == 0x0D {
                end = i + 1
                break
            }
            i += 1
        }
        guard let headEnd = end else {
            scanned = max(buffer.count - 3, 0)
            if buffer.count > maxBytes { throw Failure(status: 431, reason: "header block over \(maxBytes) bytes") }
            return .needMore
        }
        if headEnd > maxBytes { throw Failure(status: 431, reason: "header block over \(maxBytes) bytes") }
        let head = buffer[..<(headEnd - 4)]
        // RFC 9112 2.2: header text is ASCII (obs-text is tolerated in values); NUL and bare CR are not.
        guard let text = String(validating: head, as: UTF8.self), !head.contains(0) else {
            throw Failure(status: 400, reason: "head is not valid text")
        }
        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let remainder = Array(buffer[headEnd...])
        buffer = []
        scanned = 0
        return .complete(lines: lines, remainder: remainder)
    }

    /// Parses header field lines (`name: value`) strictly.
    /// - Throws: ``Failure`` (400) for an empty or non-token name, or obsolete line folding.
    static func headerFields(_ lines: ArraySlice<String>) throws(Failure) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        for line in lines {
            // RFC 9112 5.2: obs-fold MUST be rejected (or replaced) by a server; Parley rejects.
            guard let first = line.utf8.first, first != 0x20, first != 0x09,
                  let colon = line.firstIndex(of: ":") else {
                throw Failure(status: 400, reason: "malformed header line")
            }
            let name = line[..<colon]
            // RFC 9110 5.1: field names are tokens; no whitespace before the colon.
            guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else { throw Failure(status: 400, reason: "malformed header name") }
            guard !line.contains("\r") && !line.contains("\n") else { throw Failure(status: 400, reason: "bare CR or LF in header") }
            fields.append((String(name), String(line[line.index(after: colon)...].trimmingHTTPWhitespace())))
        }
        return fields
    }

    /// Parses a request head from its lines.
    /// - Throws: ``Failure``: 400 for a malformed request line or header, 505 for an HTTP
    ///   major version other than 1.
    public static func request(_ lines: [String]) throws(Failure) -> HTTPRequestHead {
        guard let requestLine = lines.first else { throw Failure(status: 400, reason: "empty request") }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].utf8.allSatisfy(isTokenByte),
              parts[1].hasPrefix("/") || parts[1] == "*" || parts[1].hasPrefix("http"),
              let major = majorVersion(parts[2]) else {
            throw Failure(status: 400, reason: "malformed request line")
        }
        // RFC 9110 15.6.6: a major version the server does not speak gets 505.
        guard major == 1 else { throw Failure(status: 505, reason: "HTTP version not supported") }
        var target = String(parts[1])
        // An absolute-form target (RFC 9112 3.2.2): keep the origin-form part.
        if target.hasPrefix("http://") || target.hasPrefix("https://") {
            let authorityAndPath = target.dropFirst(target.hasPrefix("https://") ? 8 : 7)
            target = authorityAndPath.firstIndex(of: "/").map { String(authorityAndPath[$0...]) } ?? "/"
        }
        return HTTPRequestHead(method: String(parts[0]), target: target, version: String(parts[2]),
                               headers: try headerFields(lines[1...]))
    }

    /// The major version of an `HTTP-version` (RFC 9112 2.3: `"HTTP/" DIGIT "." DIGIT`, case
    /// sensitive), or nil when it is not one.
    static func majorVersion(_ version: Substring) -> Int? {
        let bytes = Array(version.utf8)
        guard bytes.count == 8, bytes[..<5].elementsEqual("HTTP/".utf8), bytes[6] == UInt8(ascii: "."),
              isDigit(bytes[5]), isDigit(bytes[7]) else { return nil }
        return Int(bytes[5] - UInt8(ascii: "0"))
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
