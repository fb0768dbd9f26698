/// Delays between reconnection attempts: exponential backoff with jitter, as Socket.IO's. The
/// Swift client reconnects to its server with it, and the Redis client to Redis.
///
/// Attempt `n` (counted from 0) waits `initial × 2ⁿ`, moved by up to ± `jitter` of itself, then
/// capped at `maximum` (jitter first, then the cap, as Socket.IO: a delay never exceeds
/// `maximum`). With Socket.IO's defaults (1 s, 5 s, 0.5) the bands are 0.5–1.5 s, 1–3 s,
/// 2–5 s, then 2.5–5 s for ever.
///
/// A pure value: the random source is injected, so tests choose every draw (or seed it).
///
/// ```swift
/// var backoff = Backoff(initial: .seconds(1), maximum: .seconds(5), jitter: 0.5)
/// var random = SystemRandomNumberGenerator()
/// let first = backoff.next(using: &random)    // 0.5 s ... 1.5 s
/// ```
public struct Backoff: Sendable, Equatable {
    /// The delay of attempt 0, before jitter.
    public let initial: Duration
    /// The longest delay returned.
    public let maximum: Duration
    /// The fraction (0...1) by which a delay may move either way.
    public let jitter: Double
    /// Delays handed out since the last ``reset()``: the number of the next attempt.
    public private(set) var attempts = 0

    /// The exponent stops growing here: 2⁶² seconds is past any cap, and the product stays finite.
    private static let maxExponent = 62

    /// - Parameters:
    ///   - initial: the delay of the first attempt, before jitter.
    ///   - maximum: the cap.
    ///   - jitter: clamped to 0...1.
    public init(initial: Duration, maximum: Duration, jitter: Double) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The delay of the next attempt; counts the attempt.
    /// - Parameter random: the source of the jitter; one `UInt64` is drawn per call.
    public mutating func next(using random: inout some RandomNumberGenerator) -> Duration {
        // The top 53 bits as a fraction in [0, 1): exact, so a test can aim at any draw.
        let unit = Double(random.next() >> 11) * 0x1p-53
        defer { attempts += 1 }
        return delay(attempt: attempts, unitRandom: unit)
    }

    /// Starts again from attempt 0 (after a successful connection).
    public mutating func reset() {
        attempts = 0
    }

    /// The delay of `attempt` for a given draw: `min(maximum, initial × 2^attempt × (1 + jitter × (2u − 1)))`.
    ///
    /// The draw spreads the delay uniformly over the ± band (Socket.IO takes the sign from a
    /// second digit of the same draw, which comes to the same band).
    /// - Parameters:
    ///   - attempt: the attempt number, from 0.
    ///   - unitRandom: a draw in [0, 1); 0.5 gives the exponential delay itself.
    public func delay(attempt: Int, unitRandom: Double) -> Duration {
        let exponential = Self.seconds(initial) * Double(sign: .plus, exponent: min(max(attempt, 0), Self.maxExponent), significand: 1)
        let jittered = exponential * (1 + jitter * (2 * unitRandom - 1))
        let capped = min(jittered, Self.seconds(maximum))
        return .nanoseconds(Int64((max(capped, 0) * 1e9).rounded()))
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
