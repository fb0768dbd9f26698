/// A position in a namespace's stream of kept events (Protocol.md 5.5): two numbers compared in
/// order, written `"41"` by a single server (``major`` 0, consecutive ``minor``s) and
/// `"1712345678901-0"` in a cluster whose ``ClusterRecoveryStore`` numbers events (a Redis
/// stream entry id: milliseconds, then a sequence within them).
///
/// ```swift
/// RecoveryOffset("41")                  // (0, 41)
/// RecoveryOffset("1712345678901-3")     // (1712345678901, 3)
/// RecoveryOffset("x")                   // nil: not an offset
/// ```
struct RecoveryOffset: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral {
    var major: UInt64
    var minor: UInt64

    init(major: UInt64 = 0, minor: UInt64) {
        self.major = major
        self.minor = minor
    }

    init(integerLiteral value: UInt64) {
        self.init(minor: value)
    }

    /// Parses `"N"` or `"M-N"` (plain digits, each fitting 64 bits); nil for anything else.
    init?(_ text: String) {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        func number(_ part: Substring) -> UInt64? {
            guard !part.isEmpty, part.utf8.count <= 20, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            return UInt64(part)
        }
        if parts.count == 1, let minor = number(parts[0]) {
            self.init(minor: minor)
        } else if parts.count == 2, let major = number(parts[0]), let minor = number(parts[1]) {
            self.init(major: major, minor: minor)
        } else {
            return nil
        }
    }

    /// The offset after this one on a single server.
    var next: RecoveryOffset { RecoveryOffset(major: major, minor: minor + 1) }

    /// `"N"` on a single server, `"M-N"` in a cluster (the form its store gave).
    func text(cluster: Bool) -> String {
        cluster ? "\(major)-\(minor)" : String(minor)
    }

    static func < (lhs: RecoveryOffset, rhs: RecoveryOffset) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
}
