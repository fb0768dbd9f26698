import Foundation

/// One fuzz target: runs an input through a parser and checks invariants, stopping the
/// process (a crash libFuzzer records, with the input) when one does not hold.
protocol FuzzTarget: Sendable {
    func run(_ input: UnsafeRawBufferPointer)
}

/// Stops the process with `message` when `condition` is false: an invariant failed.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    guard !condition() else { return }
    FileHandle.standardError.write(Data("parley-fuzz: INVARIANT FAILED: \(message())\n".utf8))
    abort()
}

/// Ways to cut an input into consecutive chunks, as reads from a socket would: the same input
/// must give the same result however it is cut. The cuts depend on the input only, so a
/// failure replays.
enum Splits {
    /// The input whole, in random-sized chunks (1–64 bytes, from a generator seeded by the
    /// input's hash), and byte by byte when short.
    static func of(_ input: [UInt8]) -> [[ArraySlice<UInt8>]] {
        var result: [[ArraySlice<UInt8>]] = [[input[...]]]
        var generator = SplitMix64(seed: fnv1a(input))
        var chunks: [ArraySlice<UInt8>] = []
        var offset = 0
        while offset < input.count {
            let size = min(input.count - offset, Int(generator.next() % 64) + 1)
            chunks.append(input[offset..<(offset + size)])
            offset += size
        }
        result.append(chunks)
        if input.count <= 512 { result.append(input.indices.map { input[$0...$0] }) }
        return result
    }

    /// FNV-1a, 64 bits.
    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}

/// A small deterministic generator (Steele, Lea and Flood's SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
