import XCTest
@testable import ParleyWebSocket

final class UTF8ValidatorTests: XCTestCase {
    private func isValid(_ input: [UInt8]) -> Bool {
        input.withUnsafeBytes { UTF8Validator.isValid($0) }
    }

    private func consume(_ validator: inout UTF8Validator, _ input: some Collection<UInt8>) -> Bool {
        Array(input).withUnsafeBytes { validator.consume($0) }
    }

    private let validStrings = [
        "", "Hello", "héllo wörld", "€ and ✓", "日本語のテキスト", "🎉🚀 emoji", "a🎉b", "Привет, мир",
        "long ASCII run before a multi-byte character: ü", "\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}",
        "\u{D7FF}\u{E000}",  // either side of the surrogate range
    ]

    // MARK: - Valid input

    func test_utf8Validator_acceptsValidMultiByteStrings() {
        for string in validStrings {
            XCTAssertTrue(isValid(Array(string.utf8)), string)
        }
    }

    func test_utf8Validator_acceptsBoundaryScalars_asHex() {
        XCTAssertTrue(isValid(bytes("F0 9F 8E 89")))   // U+1F389 🎉
        XCTAssertTrue(isValid(bytes("F4 8F BF BF")))   // U+10FFFF, the last scalar
        XCTAssertTrue(isValid(bytes("F0 90 80 80")))   // U+10000, the first 4-byte scalar
        XCTAssertTrue(isValid(bytes("E0 A0 80")))      // U+0800, the first 3-byte scalar
        XCTAssertTrue(isValid(bytes("C2 80")))         // U+0080, the first 2-byte scalar
        XCTAssertTrue(isValid(bytes("ED 9F BF")))      // U+D7FF, just below the surrogates
        XCTAssertTrue(isValid(bytes("EE 80 80")))      // U+E000, just above them
        XCTAssertTrue(isValid(bytes("00 7F")))
    }

    func test_utf8Validator_staysValidAndCompleteOnlyAtBoundaries_whenFedByteByByte() {
        for string in validStrings {
            let input = Array(string.utf8)
            var boundaries: Set<Int> = [0]
            var offset = 0
            for scalar in string.unicodeScalars {
                offset += String(scalar).utf8.count
                boundaries.insert(offset)
            }
            var validator = UTF8Validator()
            for (index, byte) in input.enumerated() {
                XCTAssertTrue(consume(&validator, [byte]), "\(string): byte \(index)")
                XCTAssertEqual(validator.isComplete, boundaries.contains(index + 1), "\(string): after byte \(index)")
            }
            XCTAssertTrue(validator.isComplete, string)
        }
    }

    func test_utf8Validator_staysValid_whenSplitInTwoAtEveryIndex() {
        let input = Array("ab🎉c€d\u{10FFFF}é".utf8) + Array(repeating: UInt8(ascii: "x"), count: 17) + Array("ü".utf8)
        for index in 0...input.count {
            var validator = UTF8Validator()
            XCTAssertTrue(consume(&validator, input[..<index]), "first part, split at \(index)")
            XCTAssertTrue(consume(&validator, input[index...]), "second part, split at \(index)")
            XCTAssertTrue(validator.isComplete, "split at \(index)")
        }
    }

    func test_utf8Validator_isIncomplete_whenInputEndsMidCharacter() {
        for prefix in [bytes("C3"), bytes("E2 82"), bytes("F0 9F 8E"), bytes("61 62 63 64 65 66 67 68 F0")] {
            var validator = UTF8Validator()
            XCTAssertTrue(consume(&validator, prefix))
            XCTAssertFalse(validator.isComplete)
            XCTAssertFalse(isValid(prefix))
        }
    }

    func test_utf8Validator_acceptsEmptyBuffer() {
        var validator = UTF8Validator()
        XCTAssertTrue(validator.consume(UnsafeRawBufferPointer(start: nil, count: 0)))
        XCTAssertTrue(validator.isComplete)
        XCTAssertTrue(consume(&validator, bytes("E2")))
        XCTAssertTrue(validator.consume(UnsafeRawBufferPointer(start: nil, count: 0)))
        XCTAssertFalse(validator.isComplete, "an empty buffer does not complete a character")
    }

    // MARK: - Invalid input

    func test_utf8Validator_rejectsOverlongEncodings() {
        XCTAssertFalse(isValid(bytes("C0 80")))         // NUL in 2 bytes
        XCTAssertFalse(isValid(bytes("C1 BF")))         // U+007F in 2 bytes
        XCTAssertFalse(isValid(bytes("E0 80 80")))      // NUL in 3 bytes
        XCTAssertFalse(isValid(bytes("E0 9F BF")))      // U+07FF in 3 bytes
        XCTAssertFalse(isValid(bytes("F0 80 80 80")))   // NUL in 4 bytes
        XCTAssertFalse(isValid(bytes("F0 8F BF BF")))   // U+FFFF in 4 bytes
    }

    func test_utf8Validator_rejectsSurrogates() {
        XCTAssertFalse(isValid(bytes("ED A0 80")))      // U+D800
        XCTAssertFalse(isValid(bytes("ED BF BF")))      // U+DFFF
        XCTAssertFalse(isValid(bytes("ED A0 BD ED B8 80")))  // a CESU-8 surrogate pair
    }

    func test_utf8Validator_rejectsScalarsAboveU10FFFF() {
        XCTAssertFalse(isValid(bytes("F4 90 80 80")))   // U+110000
        XCTAssertFalse(isValid(bytes("F4 BF BF BF")))
    }

    func test_utf8Validator_rejectsStrayContinuationBytes() {
        XCTAssertFalse(isValid(bytes("80")))
        XCTAssertFalse(isValid(bytes("BF")))
        XCTAssertFalse(isValid(bytes("61 80 62")))
        XCTAssertFalse(isValid(bytes("C3 A9 A9")))      // one continuation too many
        XCTAssertFalse(isValid(bytes("E2 82 AC 82")))
    }

    func test_utf8Validator_rejectsMissingContinuationBytes() {
        XCTAssertFalse(isValid(bytes("C3 28")))
        XCTAssertFalse(isValid(bytes("E2 28 A1")))
        XCTAssertFalse(isValid(bytes("E2 82 28")))
        XCTAssertFalse(isValid(bytes("F0 9F 8E 28")))
        XCTAssertFalse(isValid(bytes("C3 C3 A9")))      // a lead where a continuation belongs
    }

    func test_utf8Validator_rejectsBytesF5ThroughFF() {
        for byte: UInt8 in 0xF5...0xFF {
            XCTAssertFalse(isValid([byte]), String(byte, radix: 16))
            XCTAssertFalse(isValid([byte, 0x80, 0x80, 0x80]), String(byte, radix: 16))
        }
    }

    func test_utf8Validator_rejectsInvalidByteAfterLongASCIIRun() {
        // The 8-byte ASCII fast path must not skip the bad byte, wherever it falls.
        for position in 0..<24 {
            var input = Array(repeating: UInt8(ascii: "a"), count: 24)
            input[position] = 0xFF
            XCTAssertFalse(isValid(input), "0xFF at \(position)")
            var validator = UTF8Validator()
            XCTAssertFalse(consume(&validator, input), "0xFF at \(position), incremental")
        }
    }

    func test_utf8Validator_failsOnTheBadByte_whenFedIncrementally() {
        // U+D800 fed byte by byte: ED is fine on its own, A0 is the first byte that cannot fit.
        var validator = UTF8Validator()
        XCTAssertTrue(consume(&validator, bytes("61 ED")))
        XCTAssertFalse(consume(&validator, bytes("A0")))
        // An overlong E0 80 fails at 80, the byte after the lead.
        var overlong = UTF8Validator()
        XCTAssertTrue(consume(&overlong, bytes("E0")))
        XCTAssertFalse(consume(&overlong, bytes("80")))
    }

    func test_utf8Validator_agreesWithStandardLibrary_onAllTwoAndThreeByteSequences() {
        // Exhaustive over every lead byte followed by each continuation-ish pattern.
        for lead: UInt8 in 0x80...0xFF {
            for second: UInt8 in stride(from: 0x70, through: 0xC7, by: 1) {
                for third: UInt8 in [0x41, 0x80, 0x9F, 0xA0, 0xBF, 0xC0] {
                    for input in [[lead, second], [lead, second, third], [lead, second, third, 0x80]] {
                        let expected = String(validating: input, as: UTF8.self) != nil
                        XCTAssertEqual(isValid(input), expected, input.map { String($0, radix: 16) }.joined(separator: " "))
                    }
                }
            }
        }
    }
}
