import XCTest
@testable import ParleyProtocol

final class JSONScannerTests: XCTestCase {
    // MARK: - Helpers

    /// Runs `body` with a scanner over `text`'s UTF-8.
    private func withScanner<R>(_ text: String, _ body: (inout JSONScanner) throws -> R) rethrows -> R {
        try withScanner(Array(text.utf8), body)
    }

    private func withScanner<R>(_ bytes: [UInt8], _ body: (inout JSONScanner) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { raw in
            var scanner = JSONScanner(raw)
            return try body(&scanner)
        }
    }

    /// The decoded content of the JSON string literal `literal`, and where the scan stopped.
    private func decodedString(_ literal: String) throws -> (String, Int) {
        try withScanner(literal) { scanner in
            let range = try scanner.scanString()
            return (scanner.decodeString(range), scanner.index)
        }
    }

    // MARK: - Strings

    func test_jsonScanner_scanString_returnsContentRange_andEscapeFlag() throws {
        try withScanner(#""abc" "a\nb""#) { scanner in
            let plain = try scanner.scanString()
            XCTAssertEqual(plain.start, 1)
            XCTAssertEqual(plain.end, 4)
            XCTAssertFalse(plain.hasEscapes)
            XCTAssertEqual(scanner.index, 5)
            scanner.skipWhitespace()
            let escaped = try scanner.scanString()
            XCTAssertEqual(escaped.start, 7)
            XCTAssertEqual(escaped.end, 11)
            XCTAssertTrue(escaped.hasEscapes)
            XCTAssertEqual(scanner.index, 12)
        }
    }

    func test_jsonScanner_decodeString_unescapesEveryEscape() throws {
        XCTAssertEqual(try decodedString(#""\"\\\/\b\f\n\r\t""#).0, "\"\\/\u{8}\u{C}\n\r\t")
        XCTAssertEqual(try decodedString(#""\u0041\u00e9\u20ac\uFFFF""#).0, "Aé€\u{FFFF}")
        XCTAssertEqual(try decodedString(#""\uD83D\uDE00\uDBFF\uDFFF""#).0, "😀\u{10FFFF}")
        XCTAssertEqual(try decodedString(#""\uDE00\uD83D""#).0, "\u{FFFD}\u{FFFD}")
    }

    func test_jsonScanner_findsSpecialBytes_atEveryPositionOfAnEightByteWord() throws {
        // The scanner reads plain ASCII eight bytes at a time; put each special byte at each offset.
        for prefix in 0..<17 {
            let filler = String(repeating: "x", count: prefix)
            XCTAssertEqual(try decodedString("\"\(filler)\"").1, prefix + 2, "quote after \(prefix)")
            XCTAssertEqual(try decodedString("\"\(filler)\\n\(filler)\"").0, filler + "\n" + filler)
            XCTAssertEqual(try decodedString("\"\(filler)é\(filler)\"").0, filler + "é" + filler)
            XCTAssertThrowsError(try decodedString("\"\(filler)\u{1F}\(filler)\""), "control after \(prefix)") { error in
                // The first special byte of a word is found exactly, not a byte later.
                XCTAssertEqual(error as? EnvelopeError,
                               .invalidJSON("unescaped control character byte 0x1F in string at offset \(prefix + 1)"))
            }
            XCTAssertEqual(try decodedString("\"\(filler)\u{1}\"".replacingOccurrences(of: "\u{1}", with: "\\u0001")).0,
                           filler + "\u{1}")
            XCTAssertThrowsError(try decodedString("\"\(filler)"), "unterminated after \(prefix)")
        }
    }

    func test_jsonScanner_rejectsUnterminatedString_atItsOpeningQuote() {
        XCTAssertThrowsError(try decodedString(#"  "abc"#.trimmingPrefixSpaces())) { error in
            XCTAssertEqual(error as? EnvelopeError, .invalidJSON("unterminated string at offset 0"))
        }
        XCTAssertThrowsError(try decodedString(#""ab\"#)) { error in
            XCTAssertEqual(error as? EnvelopeError, .invalidJSON("invalid escape at offset 3"))
        }
    }

    func test_jsonScanner_acceptsValidUTF8Boundaries_inStrings() throws {
        for scalar in ["\u{80}", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{FFFF}", "\u{10000}", "\u{10FFFF}"] {
            XCTAssertEqual(try decodedString("\"\(scalar)\"").0, scalar)
        }
    }

    func test_jsonScanner_rejectsInvalidUTF8_inStrings() {
        let cases: [[UInt8]] = [[0x80], [0xC1, 0xBF], [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
                                [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xE2, 0x82], [0xC3, 0x41]]
        for sequence in cases {
            XCTAssertThrowsError(try withScanner([0x22] + sequence + [0x22]) { try $0.scanString() }, "\(sequence)") { error in
                XCTAssertEqual(error as? EnvelopeError, .invalidJSON("invalid UTF-8 at offset 1"))
            }
        }
    }

    // MARK: - Numbers

    func test_jsonScanner_scanNumber_flagsPlainIntegers() throws {
        let cases: [(String, Bool)] = [("0", true), ("7", true), ("123", true), ("-0", false), ("-5", false),
                                       ("1.0", false), ("1e2", false), ("1E-2", false), ("0.5e+1", false)]
        for (text, isPlain) in cases {
            try withScanner(text) { scanner in
                XCTAssertEqual(try scanner.scanNumber(), isPlain, text)
                XCTAssertEqual(scanner.index, text.utf8.count, text)
            }
        }
    }

    func test_jsonScanner_scanNumber_stopsAfterLeadingZero() throws {
        try withScanner("012") { scanner in
            XCTAssertTrue(try scanner.scanNumber())
            XCTAssertEqual(scanner.index, 1)
        }
    }

    func test_jsonScanner_scanNumber_rejectsMissingDigits() {
        for text in ["-", "1.", "1.e1", "1e", "1e+", "-.5", "-a"] {
            XCTAssertThrowsError(try withScanner(text) { try $0.scanNumber() }, text)
        }
    }

    // MARK: - Values and structure

    func test_jsonScanner_skipValue_stopsRightAfterTheValue() throws {
        for (text, end) in [("[1, [2]] ,", 8), (#"{"a":{}}]"#, 8), ("true false", 4), ("-1.5e3,", 6), (#""s" x"#, 3), (" null", 5)] {
            try withScanner(text) { scanner in
                try scanner.skipValue(depth: 0)
                XCTAssertEqual(scanner.index, end, text)
            }
        }
    }

    func test_jsonScanner_skipValue_countsEnclosingDepth() throws {
        let two = "[[]]"
        try withScanner(two) { try $0.skipValue(depth: EnvelopeCodec.maxDepth - 2) }
        XCTAssertThrowsError(try withScanner(two) { try $0.skipValue(depth: EnvelopeCodec.maxDepth - 1) })
        try withScanner("1") { try $0.skipValue(depth: EnvelopeCodec.maxDepth) }   // scalars add no depth
    }

    func test_jsonScanner_expectEnd_allowsOnlyTrailingWhitespace() throws {
        try withScanner("1 \t\r\n") { scanner in
            try scanner.skipValue(depth: 0)
            try scanner.expectEnd()
        }
        XCTAssertThrowsError(try withScanner("1 \u{A0}") { scanner in
            try scanner.skipValue(depth: 0)
            try scanner.expectEnd()
        }) { error in
            XCTAssertEqual(error as? EnvelopeError, .invalidJSON("unexpected byte 0xC2 at offset 2"))
        }
    }

    func test_jsonScanner_peek_returnsZero_atEnd() {
        withScanner("") { scanner in
            XCTAssertEqual(scanner.peek(), 0)
            XCTAssertEqual(scanner.unexpected(), .invalidJSON("unexpected end of input at offset 0"))
        }
    }

    func test_jsonScanner_describe_showsPrintableCharacters_andHexOtherwise() {
        XCTAssertEqual(JSONScanner.describe(UInt8(ascii: "x")), "character 'x'")
        XCTAssertEqual(JSONScanner.describe(0x20), "byte 0x20")
        XCTAssertEqual(JSONScanner.describe(0x07), "byte 0x07")
        XCTAssertEqual(JSONScanner.describe(0xFF), "byte 0xFF")
    }
}

private extension String {
    func trimmingPrefixSpaces() -> String { String(drop { $0 == " " }) }
}
