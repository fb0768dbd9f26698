import XCTest
@testable import ParleyProtocol

final class RawJSONTests: XCTestCase {
    private struct ChatMessage: Codable, Equatable {
        var text: String
        var room: String?
        var count: Int
        var tags: [String]
    }

    private struct Job: Decodable {
        var name: String
        var payload: RawJSON
    }

    /// Texts RFC 8259 accepts, one per JSON value kind and number form.
    private let validTexts = [
        "0", "-0", "1", "-1", "42", "1e5", "1E+5", "1e-5", "1.5e-3", "-12.25E+10", "0.5", "123456789012345678901234567890",
        "true", "false", "null",
        #""""#, #""plain""#, #""\"\\\/\b\f\n\r\t""#, #""\u00e9\u00E9""#, #""\uD83D\uDE00""#, #""\uD800""#, "\"héllo 🎉\"",
        "[]", "[1]", "[1,2,[3,[]]]", "{}", #"{"a":1}"#, #"{"a":{"b":[true,false,null]},"c":"d"}"#,
        " \t\r\n[ 1 , { \"a\" : 2 } ]\n ",
    ]

    /// Texts RFC 8259 refuses: bad numbers, literals, strings, structure, trailing garbage.
    private let invalidTexts = [
        "", "   ", "01", "-01", "00", "1.", "-", "+1", ".5", "1e", "1e+", "1.e5", "--1", "0x10", "NaN", "Infinity", "1 2",
        "tru", "True", "nul", "nulls", "falsey",
        #"""#, #""abc"#, "\"a\u{01}b\"", "\"tab\there\"", #""\x""#, #""\u12G4""#, #""\u12""#, "'single'",
        "[", "]", "[1,]", "[,1]", "[1 2]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "{1:1}", "{\"a\" 1}",
        "[1]]", "{}x", "null null", "[1]\u{0}",
    ]

    private func rejects(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try RawJSON(json: text), "accepted \(text.debugDescription)", file: file, line: line) { error in
            guard case EnvelopeError.invalidJSON = error else {
                return XCTFail("\(text.debugDescription): \(error)", file: file, line: line)
            }
        }
    }

    // MARK: - Validating

    func test_rawJSON_acceptsEveryValueKind_fromTable() throws {
        for text in validTexts {
            XCTAssertNoThrow(try RawJSON(json: text), text.debugDescription)
        }
    }

    func test_rawJSON_rejectsInvalidTexts_withInvalidJSON() {
        for text in invalidTexts {
            rejects(text)
        }
    }

    func test_rawJSON_rejectsInvalidUTF8InStrings_asBytes() {
        let cases: [[UInt8]] = [
            [0x22, 0xC3, 0x22],                 // cut-off 2-byte scalar
            [0x22, 0xC0, 0xAF, 0x22],           // overlong "/"
            [0x22, 0xED, 0xA0, 0x80, 0x22],     // UTF-8 encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], // above U+10FFFF
            [0x22, 0xFF, 0x22],
            [0xC3, 0xA9],                        // non-ASCII outside a string
        ]
        for bytes in cases {
            XCTAssertThrowsError(try RawJSON(validating: bytes), "\(bytes)")
        }
    }

    func test_rawJSON_trimsSurroundingWhitespace_whenValidating() throws {
        XCTAssertEqual(try RawJSON(json: " \n[1, 2]\t ").bytes, Array("[1, 2]".utf8))
        XCTAssertEqual(try RawJSON(json: "\"x\"").bytes, Array("\"x\"".utf8))
    }

    func test_rawJSON_acceptsAnyCollection_whenValidating() throws {
        let payload = Array(#"xx{"a":1}yy"#.utf8)
        XCTAssertEqual(try RawJSON(validating: payload[2..<9]).description, #"{"a":1}"#)
    }

    func test_rawJSON_reportsOffset_ofUnexpectedCharacter() {
        XCTAssertThrowsError(try RawJSON(json: #"{"a":1,x}"#)) { error in
            XCTAssertEqual(error as? EnvelopeError, .invalidJSON("unexpected character 'x' at offset 7"))
        }
        XCTAssertThrowsError(try RawJSON(json: "[1")) { error in
            XCTAssertEqual(error as? EnvelopeError, .invalidJSON("unexpected end of input at offset 2"))
        }
    }

    // MARK: - Depth

    func test_rawJSON_acceptsNesting_atMaxDepth() throws {
        let depth = EnvelopeCodec.maxDepth
        XCTAssertEqual(depth, 128)
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        XCTAssertNoThrow(try RawJSON(json: arrays))
        let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
        XCTAssertNoThrow(try RawJSON(json: objects))
        let mixed = String(repeating: #"[{"a":"#, count: depth / 2) + "0" + String(repeating: "}]", count: depth / 2)
        XCTAssertNoThrow(try RawJSON(json: mixed))
    }

    func test_rawJSON_rejectsNesting_deeperThanMaxDepth() {
        let depth = EnvelopeCodec.maxDepth + 1
        rejects(String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
        rejects(String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth))
    }

    func test_rawJSON_rejectsHundredThousandOpenBrackets_withoutCrashing() {
        let hostile = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        XCTAssertThrowsError(try RawJSON(validating: hostile)) { error in
            XCTAssertEqual(error as? EnvelopeError, .invalidJSON("nesting deeper than 128 at offset 128"))
        }
    }

    func test_rawJSON_rejectsMismatchedClosers_atEveryDepth() {
        rejects("[[{]]]")
        rejects(#"{"a":[}]"#)
        rejects("[[[]]}")
    }

    // MARK: - Encoding and decoding

    func test_rawJSON_roundTripsCodableStruct_throughEncodingAndDecode() throws {
        let message = ChatMessage(text: "hé \"there\"\n🎉", room: nil, count: 3, tags: ["a", "b/c"])
        let raw = try RawJSON(encoding: message)
        XCTAssertEqual(raw.description, #"{"count":3,"tags":["a","b/c"],"text":"hé \"there\"\n🎉"}"#)
        XCTAssertNoThrow(try RawJSON(validating: raw.bytes))
        XCTAssertEqual(try raw.decode(ChatMessage.self), message)
        let inferred: ChatMessage = try raw.decode()
        XCTAssertEqual(inferred, message)
    }

    func test_rawJSON_encodesAndDecodesTopLevelFragments() throws {
        XCTAssertEqual(try RawJSON(encoding: "hi").description, #""hi""#)
        XCTAssertEqual(try RawJSON(encoding: 42).description, "42")
        XCTAssertEqual(try RawJSON(encoding: true).description, "true")
        XCTAssertEqual(try RawJSON(encoding: nil as Int?), RawJSON.null)
        XCTAssertEqual(try RawJSON(json: #""hi""#).decode(String.self), "hi")
        XCTAssertEqual(try RawJSON(json: "42").decode(Int.self), 42)
        XCTAssertNil(try RawJSON.null.decode(Int?.self))
    }

    func test_rawJSON_decodeThrows_whenTypeDoesNotMatch() throws {
        XCTAssertThrowsError(try RawJSON(json: #""text""#).decode(Int.self))
        XCTAssertThrowsError(try RawJSON(json: "{}").decode(ChatMessage.self))
    }

    func test_rawJSON_decodeAsRawJSON_returnsSelfUnchanged() throws {
        let raw = try RawJSON(json: #"{ "b" : [1, 2.50, "\u0041"] }"#)
        XCTAssertEqual(try raw.decode(RawJSON.self), raw)
        let inferred: RawJSON = try raw.decode()
        XCTAssertEqual(inferred.bytes, raw.bytes)
    }

    func test_rawJSON_decodesAsMember_ofDecodableStruct() throws {
        let raw = try RawJSON(json: #"{"name":"n","payload":{"z":[1,-2,1.5,true,null,"é\n"],"a":{}}}"#)
        let job = try raw.decode(Job.self)
        XCTAssertEqual(job.name, "n")
        XCTAssertEqual(job.payload.description, #"{"a":{},"z":[1,-2,1.5,true,null,"é\n"]}"#)
        XCTAssertNoThrow(try RawJSON(validating: job.payload.bytes))
    }

    // MARK: - Properties

    func test_rawJSON_isNull_onlyForNull() throws {
        XCTAssertTrue(RawJSON.null.isNull)
        XCTAssertEqual(RawJSON.null.bytes, Array("null".utf8))
        XCTAssertTrue(try RawJSON(json: " null ").isNull)
        XCTAssertFalse(try RawJSON(json: #""null""#).isNull)
        XCTAssertFalse(try RawJSON(json: "[null]").isNull)
        XCTAssertFalse(try RawJSON(json: "0").isNull)
    }

    func test_rawJSON_description_isTheJSONText() throws {
        XCTAssertEqual(try RawJSON(json: #"{"a": "é"}"#).description, #"{"a": "é"}"#)
        XCTAssertEqual("\(RawJSON.null)", "null")
    }

    func test_rawJSON_equalityAndHash_compareBytes() throws {
        let a = try RawJSON(json: "[1,2]")
        XCTAssertEqual(a, RawJSON(unchecked: Array("[1,2]".utf8)))
        XCTAssertNotEqual(a, try RawJSON(json: "[1, 2]"))
        XCTAssertEqual(Set([a, RawJSON(unchecked: Array("[1,2]".utf8))]).count, 1)
    }
}
