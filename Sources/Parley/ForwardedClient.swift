#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ParleyWebSocket

/// Who a request comes from when proxies stand in front of the server: the client's address and
/// scheme from `X-Forwarded-For` and `X-Forwarded-Proto`, believed only when the connection's peer
/// is a trusted proxy (``Server/Configuration/trustedProxies``).
///
/// `X-Forwarded-For` lists the client, then each proxy it passed, each appending the address it
/// received the request from. The client is the rightmost address that is not a trusted proxy
/// (what is left of it could be made up by the client itself); when every address is a trusted
/// proxy, the leftmost.
struct ForwardedClient: Sendable {
    /// The trusted proxies' addresses, in canonical text form.
    let trusted: Set<String>

    init(trustedProxies: [String]) {
        trusted = Set(trustedProxies.compactMap(Self.canonical))
    }

    /// The client's address and whether it used TLS.
    /// - Parameters:
    ///   - request: the request head, with the forwarding headers.
    ///   - peer: the connection's peer, `ip:port`.
    ///   - secure: whether the connection to this server is TLS.
    /// - Returns: `peer` and `secure` unchanged unless `peer` is a trusted proxy; then the client
    ///   IP (without a port) and whether `X-Forwarded-Proto` is `https`.
    func resolve(_ request: HTTPRequestHead, peer: String, secure: Bool) -> (address: String, secure: Bool) {
        guard !trusted.isEmpty, let peerHost = Self.canonical(RefusalLimiter.host(ofPeer: peer)),
              trusted.contains(peerHost) else { return (peer, secure) }
        var address = peer
        let hops = request.headers.filter { $0.name.lowercased() == "x-forwarded-for" }
            .flatMap { $0.value.split(separator: ",") }
            .map { $0.trimmingWhitespace() }
        for hop in hops.reversed() {
            // A hop that is not an address: nothing left of it can be believed.
            guard let canonical = Self.canonical(Self.stripPort(hop)) else { break }
            address = canonical
            if !trusted.contains(canonical) { break }
        }
        var isSecure = secure
        if let proto = request.headers.first(where: { $0.name.lowercased() == "x-forwarded-proto" }) {
            let first = proto.value.split(separator: ",").first.map { $0.trimmingWhitespace().lowercased() } ?? ""
            isSecure = first == "https" || first == "wss"
        }
        return (address, isSecure)
    }

    /// `[ip]:port` → `ip`, `a.b.c.d:port` → `a.b.c.d`; anything else as is.
    static func stripPort(_ hop: String) -> String {
        RefusalLimiter.host(ofPeer: hop)
    }

    /// The canonical text of an IPv4 or IPv6 address (IPv4-mapped IPv6 as IPv4), or nil when
    /// `text` is not an address.
    static func canonical(_ text: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return format(AF_INET, &v4) }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        return format(AF_INET6, &v6)
    }

    private static func format<Address>(_ family: Int32, _ address: inout Address) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let formatted = withUnsafeBytes(of: &address) { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard formatted != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
