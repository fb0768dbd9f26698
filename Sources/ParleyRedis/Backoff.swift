/// Delays between reconnection attempts: exponential with a cap, and jitter so that many
/// nodes that lost the same Redis do not reconnect in lock-step. Pure: the caller passes the
/// random draw, so tests choose it.
public struct Backoff: Sendable, Equatable {
    /// The first delay, before jitter.
    public let initial: Duration
    /// The longest delay.
    public let maximum: Duration
    /// The fraction (0...1) by which a delay may move either way.
    public let jitter: Double
    /// Delays handed out since the last ``reset()``.
    public private(set) var attempts = 0

    /// - Parameters:
    ///   - initial: 100 ms by default: a Redis restart takes about that long, so the first retry
    ///     often succeeds.
    ///   - maximum: 2 s by default (as ioredis): service resumes within 2 s of Redis's return,
    ///     while a dead Redis costs each node one refused connect per ~2 s.
    ///   - jitter: ±50 % by default (as Socket.IO's client).
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(2), jitter: Double = 0.5) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The delay of the next attempt, `min(maximum, initial × 2^attempts × (1 + jitter × (2u − 1)))`;
    /// counts the attempt.
    /// - Parameter unitRandom: a draw in [0, 1).
    public mutating func next(unitRandom: Double) -> Duration {
        let exponent = min(attempts, 62)
        attempts += 1
        let base = Double(initial.components.seconds) + Double(initial.components.attoseconds) * 1e-18
        let cap = Double(maximum.components.seconds) + Double(maximum.components.attoseconds) * 1e-18
        let grown = min(base * Double(sign: .plus, exponent: exponent, significand: 1), cap)
        let spread = grown * (1 + jitter * (2 * min(max(unitRandom, 0), 1) - 1))
        return .nanoseconds(Int64(min(spread, cap) * 1e9))
    }

    /// Starts again from the first delay (after a successful connection).
    public mutating func reset() {
        attempts = 0
    }
}
