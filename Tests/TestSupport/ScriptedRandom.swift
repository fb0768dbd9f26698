/// A random source that returns chosen fractions of [0, 1), in order, as `Backoff` reads them.
public struct ScriptedRandom: RandomNumberGenerator {
    public var fractions: [Double]
    private var index = 0

    public init(_ fractions: [Double]) { self.fractions = fractions }

    public mutating func next() -> UInt64 {
        defer { index += 1 }
        // Backoff uses the top 53 bits as the fraction: put it there exactly.
        return UInt64(fractions[index % fractions.count] * 0x1p53) << 11
    }
}

/// A seeded generator (SplitMix64): the same seed gives the same draws on every run and
/// platform, so a test over many random draws is repeatable.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
