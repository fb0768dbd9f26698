/// Counts refused connection attempts per client address and says when an address has had too
/// many: a client guessing tokens (or sending bad requests) then gets `429 Too Many Requests`
/// with `Retry-After` instead of a full upgrade and refusal each time.
///
/// A fixed window per address: it opens at the address's first refusal, counts refusals, and
/// blocks the address once ``Limit/maxRefusals`` are counted, until it closes ``Limit/window``
/// after it opened. Answers of 429 are not counted, so a block ends on time. Pure: the caller
/// passes the time, so tests drive it with a clock of their own.
public struct RefusalLimiter: Sendable {
    /// How many refusals one address may have in how long.
    public struct Limit: Sendable, Equatable {
        /// Refusals an address may have within ``window``; once reached, its upgrades get 429.
        /// 20: a person who mistypes a token or reloads a page never reaches it, a script that
        /// guesses does within a fraction of a second.
        public var maxRefusals: Int
        /// The length of an address's window. 10 s: long enough to slow guessing to 2 attempts
        /// per second, short enough that a misconfigured client recovers soon.
        public var window: Duration

        public init(maxRefusals: Int = 20, window: Duration = .seconds(10)) {
            self.maxRefusals = maxRefusals
            self.window = window
        }
    }

    private struct Window {
        var opened: ContinuousClock.Instant
        var refusals: Int
    }

    public let limit: Limit
    /// Most addresses tracked at once; when full, expired windows are dropped, and an address
    /// that still finds no room is not tracked (it is not limited). 10,000: a few hundred KB,
    /// and an attack from more addresses than that is beyond what a per-address limit handles.
    public let maxAddresses: Int
    private var windows: [String: Window] = [:]

    public init(limit: Limit, maxAddresses: Int = 10_000) {
        self.limit = limit
        self.maxAddresses = maxAddresses
    }

    /// Addresses with an open window (for tests and diagnostics).
    public var trackedAddresses: Int { windows.count }

    /// Counts one refused attempt from `address` (a key from ``limitKey(ofPeer:)``).
    public mutating func recordRefusal(from address: String, now: ContinuousClock.Instant) {
        if let window = windows[address], now < window.opened + limit.window {
            windows[address]?.refusals = window.refusals + 1
            return
        }
        if windows[address] == nil && windows.count >= maxAddresses {
            windows = windows.filter { now < $0.value.opened + limit.window }
            if windows.count >= maxAddresses { return }
        }
        windows[address] = Window(opened: now, refusals: 1)
    }

    /// How long `address` must wait before its next upgrade is considered, or nil when it may
    /// proceed now.
    public func retryAfter(for address: String, now: ContinuousClock.Instant) -> Duration? {
        guard let window = windows[address], window.refusals >= limit.maxRefusals else { return nil }
        let end = window.opened + limit.window
        return now < end ? end - now : nil
    }

    /// A wait as the whole seconds of a `Retry-After` value (RFC 9110 10.2.3): rounded up, at least 1.
    public static func retryAfterSeconds(_ wait: Duration) -> Int {
        let (seconds, attoseconds) = wait.components
        return max(1, Int(seconds) + (attoseconds > 0 ? 1 : 0))
    }

    /// The key a peer address is counted under by this limiter and by ``HandshakeLimiter``: the
    /// host for IPv4 (`1.2.3.4:5` -> `1.2.3.4`, also when written IPv4-mapped as
    /// `[::ffff:1.2.3.4]:5`), and the /64 network for IPv6 (`[2001:db8:1:2::7]:5` ->
    /// `2001:db8:1:2::/64`). One IPv6 subscriber is normally given a whole /64 (RFC 6177), so a
    /// limit per single IPv6 address would let one client rotate past it. A text that is not an
    /// address is its own key.
    public static func limitKey(ofPeer address: String) -> String {
        let host = host(ofPeer: address)
        guard host.contains(":") else { return host }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return host }
        var bytes = withUnsafeBytes(of: &v6) { Array($0) }
        // ::ffff:a.b.c.d is the IPv4 client a dual-stack socket accepted: count it as IPv4.
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return "\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15])"
        }
        for index in 8..<16 { bytes[index] = 0 }
        var network = in6_addr()
        withUnsafeMutableBytes(of: &network) { $0.copyBytes(from: bytes) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &network, &text, socklen_t(text.count)) != nil else { return host }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/64"
    }

    /// The host part of a peer address as ``WebSocket/remoteAddress`` gives it: `1.2.3.4:5` ->
    /// `1.2.3.4`, `[::1]:5` -> `::1`; an address without a port (`1.2.3.4`, a bare IPv6 such as
    /// `2001:db8::1`) as it is. Clients are counted per host, whatever their port.
    public static func host(ofPeer address: String) -> String {
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<close])
        }
        guard let colon = address.lastIndex(of: ":"), address.firstIndex(of: ":") == colon else { return address }
        return String(address[..<colon])
    }
}
