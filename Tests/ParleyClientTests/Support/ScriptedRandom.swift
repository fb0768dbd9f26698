/// A random source that returns chosen fractions of [0, 1), in order, as `Backoff` reads them.
struct ScriptedRandom: RandomNumberGenerator {
    var fractions: [Double]
    private var index = 0

    init(_ fractions: [Double]) { self.fractions = fractions }

    mutating func next() -> UInt64 {
        defer { index += 1 }
        // Backoff uses the top 53 bits as the fraction: put it there exactly.
        return UInt64(fractions[index % fractions.count] * 0x1p53) << 11
    }
}
