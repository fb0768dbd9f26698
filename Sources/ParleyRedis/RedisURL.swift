/// Where a Redis server is and how to log in: `redis://[[user]:password@]host[:port][/db]`, or
/// `rediss://...` for TLS (managed Redis services require it).
///
/// ```swift
/// let url = try RedisURL("redis://:secret@127.0.0.1:6379/2")
/// // host 127.0.0.1, port 6379, password "secret", database 2
/// let acl = try RedisURL("redis://app:secret@redis.internal")   // AUTH app secret (Redis 6 ACL)
/// ```
///
/// The password and user may be percent-encoded (`%40` for `@`). IPv6 hosts go in brackets:
/// `redis://[::1]:6379`. Unix sockets are refused with a clear error.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    /// Host name or literal address, without brackets. With TLS, the name the server's
    /// certificate must carry.
    public var host: String
    /// `rediss://`: the connection is TLS (see ``RedisConnection/Configuration/tls``).
    public var tls: Bool
    /// TCP port; 6379, Redis's default, when the URL has none.
    public var port: Int
    /// ACL user name (`AUTH user password`); nil for `AUTH password` or no user.
    public var user: String?
    /// Password; nil sends no `AUTH`.
    public var password: String?
    /// Database index for `SELECT`; 0 (Redis's default) sends none. Pub/sub ignores it: channels
    /// are server-wide.
    public var database: Int

    /// Parses a `redis://` or `rediss://` URL.
    /// - Throws: ``RedisError/invalidURL(_:)`` naming what is wrong.
    public init(_ text: String) throws {
        tls = text.hasPrefix("rediss://")
        let scheme = tls ? "rediss://" : "redis://"
        guard text.hasPrefix(scheme) else {
            if text.hasPrefix("unix://") || text.hasPrefix("redis+unix://") { throw RedisError.invalidURL("unix sockets are not supported; use redis://host:port") }
            throw RedisError.invalidURL("'\(text)' does not start with redis:// or rediss://")
        }
        var rest = Substring(text.dropFirst(scheme.count))
        if let query = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            throw RedisError.invalidURL("query and fragment are not supported ('\(rest[query...])')")
        }
        // The authority ends at the first "/" after the userinfo (passwords may contain "/").
        var userinfo: Substring?
        if let at = rest.lastIndex(of: "@") {
            userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        // Host and port.
        var hostPart = rest
        var portPart: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { throw RedisError.invalidURL("unterminated [ in the host") }
            let after = hostPart[hostPart.index(after: close)...]
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw RedisError.invalidURL("unexpected '\(after)' after the host") }
                portPart = after.dropFirst()
            }
        } else if let colon = hostPart.firstIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        guard !hostPart.isEmpty else { throw RedisError.invalidURL("no host in '\(text)'") }
        // RFC 3986 3.2.2: brackets only enclose an IP literal, never appear inside a host.
        guard !hostPart.contains(where: { $0 == " " || $0 == "%" || $0 == "@" || $0 == "[" || $0 == "]" }) else {
            throw RedisError.invalidURL("invalid host '\(hostPart)'")
        }
        host = String(hostPart)
        if let portPart {
            guard let value = Int(portPart), (1...65535).contains(value), portPart.allSatisfy(\.isASCII) else {
                throw RedisError.invalidURL("port must be 1...65535, got '\(portPart)'")
            }
            port = value
        } else {
            port = 6379
        }
        // Database.
        if path.isEmpty {
            database = 0
        } else {
            guard let value = Int(path), value >= 0, path.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw RedisError.invalidURL("database must be a number >= 0, got '\(path)'")
            }
            database = value
        }
        // Credentials.
        user = nil
        password = nil
        if let userinfo {
            if let colon = userinfo.firstIndex(of: ":") {
                let name = try Self.percentDecoded(userinfo[..<colon])
                user = name.isEmpty ? nil : name
                password = try Self.percentDecoded(userinfo[userinfo.index(after: colon)...])
            } else {
                // redis://secret@host: a lone userinfo is the password, as redis-cli -u reads it.
                password = try Self.percentDecoded(userinfo)
            }
            if password == "" { password = nil }
        }
    }

    /// `redis://host:port/db` (or `rediss://`) without the credentials, for logs.
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return (tls ? "rediss://" : "redis://") + "\(shownHost):\(port)" + (database == 0 ? "" : "/\(database)")
    }

    private static func percentDecoded(_ text: Substring) throws -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.popFirst().flatMap(hexValue), let low = iterator.popFirst().flatMap(hexValue) else {
                throw RedisError.invalidURL("bad percent-encoding in the credentials")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
