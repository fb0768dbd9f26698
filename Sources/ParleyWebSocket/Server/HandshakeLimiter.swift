/// Counts opening handshakes in progress (connections accepted whose request head is not
/// answered yet), in total and per client address, and refuses a new one over either cap: a
/// flood of half-open connections then cannot take every descriptor from healthy clients.
/// Pure bookkeeping: the server calls ``begin(from:)`` when it accepts a connection and
/// ``end(from:)`` once its head is answered or it is dropped.
public struct HandshakeLimiter: Sendable {
    /// Most handshakes in progress at once.
    public let maxTotal: Int
    /// Most handshakes in progress from one address.
    public let maxPerAddress: Int
    private var perAddress: [String: Int] = [:]
    /// Handshakes in progress now.
    public private(set) var inProgress = 0

    public init(maxTotal: Int, maxPerAddress: Int) {
        self.maxTotal = maxTotal
        self.maxPerAddress = maxPerAddress
    }

    /// Addresses with a handshake in progress (never more than ``maxTotal``).
    public var trackedAddresses: Int { perAddress.count }

    /// Starts a handshake from `address`; false (start none) when a cap is reached.
    public mutating func begin(from address: String) -> Bool {
        let current = perAddress[address, default: 0]
        guard inProgress < maxTotal, current < maxPerAddress else { return false }
        perAddress[address] = current + 1
        inProgress += 1
        return true
    }

    /// Ends a handshake ``begin(from:)`` started for `address`.
    public mutating func end(from address: String) {
        guard let current = perAddress[address] else { return }
        perAddress[address] = current > 1 ? current - 1 : nil
        inProgress -= 1
    }
}
