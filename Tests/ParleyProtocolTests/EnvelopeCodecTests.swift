import XCTest
@testable import ParleyProtocol

final class EnvelopeCodecTests: XCTestCase {
    // MARK: - Helpers

    private func decode(_ text: String) throws -> Envelope {
        try EnvelopeCodec.decode(Array(text.utf8))
    }

    private func raw(_ text: String) -> RawJSON {
        RawJSON(unchecked: Array(text.utf8))
    }

    private func encoded(_ envelope: Envelope) -> String {
        String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self)
    }

    private func jsonString(_ text: String) -> String {
        var out: [UInt8] = []
        EnvelopeCodec.appendJSONString(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private func assertDecodes(_ text: String, to expected: Envelope, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(try decode(text), expected, text, file: file, line: line)
    }

    private func assertFails(_ text: String, with expected: EnvelopeError, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(text), text, file: file, line: line) { error in
            XCTAssertEqual(error as? EnvelopeError, expected, text, file: file, line: line)
        }
    }

    private func assertInvalidJSON(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(text), text, file: file, line: line) { error in
            guard case EnvelopeError.invalidJSON = error else {
                return XCTFail("\(text.debugDescription): \(error)", file: file, line: line)
            }
        }
    }

    // MARK: - Events

    func test_envelopeCodec_decodesEventWithData_asRawSlice() {
        assertDecodes(#"{"event":"chat","data":{"text":"hi"}}"#, to: .event(name: "chat", data: raw(#"{"text":"hi"}"#), id: nil))
    }

    func test_envelopeCodec_keepsDataExactlyAsSent_withInnerWhitespace() throws {
        let envelope = try decode(#"{"event":"e","data": {"a" : [1, 2]} }"#)
        guard case .event(_, let data?, _) = envelope else { return XCTFail("\(envelope)") }
        XCTAssertEqual(data.bytes, Array(#"{"a" : [1, 2]}"#.utf8))
    }

    func test_envelopeCodec_keepsDataOfEveryKind_asRawSlice() {
        for data in ["null", "true", "false", "0", "-1.5e3", #""s\"t""#, "[]", "{}", #"[1,{"x":[null]}]"#, "\"🎉\""] {
            assertDecodes(#"{"event":"e","data":\#(data)}"#, to: .event(name: "e", data: raw(data), id: nil))
        }
    }

    func test_envelopeCodec_decodesEventWithoutData_asNilData() {
        assertDecodes(#"{"event":"ping"}"#, to: .event(name: "ping", data: nil, id: nil))
    }

    func test_envelopeCodec_keepsExplicitNullData_asRawNull() {
        assertDecodes(#"{"event":"e","data":null}"#, to: .event(name: "e", data: .null, id: nil))
    }

    func test_envelopeCodec_decodesEventWithID_inAnyKeyOrder() {
        let expected = Envelope.event(name: "join", data: raw(#""room""#), id: 7)
        assertDecodes(#"{"event":"join","data":"room","id":7}"#, to: expected)
        assertDecodes(#"{"id":7,"data":"room","event":"join"}"#, to: expected)
        assertDecodes(" {\n \"data\" : \"room\" ,\t\"id\" : 7 , \"event\" : \"join\" }\r\n", to: expected)
    }

    func test_envelopeCodec_acceptsIDBounds_zeroAndMaxSafeInteger() {
        assertDecodes(#"{"event":"e","id":0}"#, to: .event(name: "e", data: nil, id: 0))
        assertDecodes(#"{"event":"e","id":9007199254740991}"#, to: .event(name: "e", data: nil, id: 9_007_199_254_740_991))
    }

    func test_envelopeCodec_rejectsIDs_outsideRangeOrNotPlainIntegers_withInvalidID() {
        for id in ["9007199254740992", "18446744073709551616", "99999999999999999999", "-1", "-0", "1.0", "1e2", "1.5",
                   "\"1\"", "null", "true", "[1]", "{}"] {
            assertFails(#"{"event":"e","id":\#(id)}"#, with: .invalidID)
            assertFails(#"{"ack":\#(id),"data":1}"#, with: .invalidID)
        }
    }

    func test_envelopeCodec_ignoresUnknownKeys_ofAnyValue() {
        assertDecodes(#"{"v":2,"event":"e","meta":{"deep":[1,{"x":null}]},"flags":[true],"id":3,"x":"y"}"#,
                      to: .event(name: "e", data: nil, id: 3))
        assertDecodes(#"{"message":"not an error","ack":1}"#, to: .ack(id: 1, data: nil))
    }

    func test_envelopeCodec_acceptsEmptyEventName() {
        assertDecodes(#"{"event":""}"#, to: .event(name: "", data: nil, id: nil))
    }

    // MARK: - Escapes

    func test_envelopeCodec_decodesEscapesInEventName() {
        assertDecodes(#"{"event":"ch\u0061t"}"#, to: .event(name: "chat", data: nil, id: nil))
        assertDecodes(#"{"event":"a\"b\\c\/d\b\f\n\r\t"}"#, to: .event(name: "a\"b\\c/d\u{8}\u{C}\n\r\t", data: nil, id: nil))
        assertDecodes(#"{"event":"caf\u00e9 \u20AC"}"#, to: .event(name: "café €", data: nil, id: nil))
        assertDecodes(#"{"event":"\u0000"}"#, to: .event(name: "\u{0}", data: nil, id: nil))
    }

    func test_envelopeCodec_decodesSurrogatePairEscape_asOneScalar() {
        assertDecodes(#"{"event":"\uD83D\uDE00!"}"#, to: .event(name: "😀!", data: nil, id: nil))
        assertDecodes(#"{"event":"x\ud83c\udf89"}"#, to: .event(name: "x🎉", data: nil, id: nil))
    }

    func test_envelopeCodec_acceptsLoneSurrogateEscapes_asReplacementCharacter() {
        assertDecodes(#"{"event":"a\uD800b"}"#, to: .event(name: "a\u{FFFD}b", data: nil, id: nil))
        assertDecodes(#"{"event":"\uDC00"}"#, to: .event(name: "\u{FFFD}", data: nil, id: nil))
        assertDecodes(#"{"event":"\uD800\u0041"}"#, to: .event(name: "\u{FFFD}A", data: nil, id: nil))
        assertDecodes(#"{"event":"\uD800"}"#, to: .event(name: "\u{FFFD}", data: nil, id: nil))
        // In data they are relayed as sent.
        assertDecodes(#"{"event":"e","data":"\uD800"}"#, to: .event(name: "e", data: raw(#""\uD800""#), id: nil))
    }

    func test_envelopeCodec_keepsRawUTF8InEventName() {
        assertDecodes("{\"event\":\"héllo 🎉 日本\"}", to: .event(name: "héllo 🎉 日本", data: nil, id: nil))
    }

    func test_envelopeCodec_matchesEscapedKeys_byTheirDecodedName() {
        assertDecodes(#"{"\u0065vent":"e","d\u0061ta":1,"\u0069d":2}"#, to: .event(name: "e", data: raw("1"), id: 2))
        assertDecodes(#"{"\u0061ck":4,"err\u006Fr":{"mess\u0061ge":"m"}}"#, to: .ackError(id: 4, message: "m"))
        assertFails(#"{"event":"a","\u0065vent":"b"}"#, with: .conflictingKeys(#"duplicate key "event""#))
    }

    // MARK: - Acks

    func test_envelopeCodec_decodesAck_withAndWithoutData() {
        assertDecodes(#"{"ack":12,"data":["ok",1]}"#, to: .ack(id: 12, data: raw(#"["ok",1]"#)))
        assertDecodes(#"{"data":"x","ack":0}"#, to: .ack(id: 0, data: raw(#""x""#)))
        assertDecodes(#"{"ack":5}"#, to: .ack(id: 5, data: nil))
    }

    func test_envelopeCodec_decodesErrorAck_withMessage() {
        assertDecodes(#"{"ack":3,"error":{"message":"no such room"}}"#, to: .ackError(id: 3, message: "no such room"))
        assertDecodes(#"{"error":{"code":4,"message":"line\nbreak \u00e9","extra":[{}]},"ack":3}"#,
                      to: .ackError(id: 3, message: "line\nbreak é"))
    }

    func test_envelopeCodec_rejectsErrorWithoutStringMessage_withInvalidError() {
        for error in ["{}", #"{"message":1}"#, #"{"message":null}"#, #"{"msg":"x"}"#, #""text""#, "null", "[]", "7"] {
            assertFails(#"{"ack":1,"error":\#(error)}"#, with: .invalidError)
        }
    }

    func test_envelopeCodec_rejectsDuplicateMessage_inError() {
        assertFails(#"{"ack":1,"error":{"message":"a","message":"b"}}"#, with: .conflictingKeys(#"duplicate key "message""#))
    }

    // MARK: - Envelope rule errors

    func test_envelopeCodec_rejectsNonObjectTopLevel_withNotAnObject() {
        for text in ["[]", #"["event","x"]"#, #""event""#, "1", "null", "true", " [1] "] {
            assertFails(text, with: .notAnObject)
        }
    }

    func test_envelopeCodec_rejectsInvalidNonObjectPayloads_withInvalidJSON() {
        for text in ["", "   ", "[1", "nope", "\"abc", "01"] {
            assertInvalidJSON(text)
        }
    }

    func test_envelopeCodec_rejectsObjectWithoutEventOrAck_withMissingEvent() {
        for text in ["{}", #"{"data":1}"#, #"{"id":1}"#, #"{"error":{"message":"m"}}"#, #"{"name":"chat"}"#] {
            assertFails(text, with: .missingEvent)
        }
    }

    func test_envelopeCodec_rejectsNonStringEvent_withEventNotString() {
        for value in ["1", "null", "true", "[\"chat\"]", #"{"name":"chat"}"#] {
            assertFails(#"{"event":\#(value)}"#, with: .eventNotString)
        }
    }

    func test_envelopeCodec_rejectsConflictingKeys_namingThem() {
        assertFails(#"{"event":"e","ack":1}"#, with: .conflictingKeys(#""event" with "ack""#))
        assertFails(#"{"ack":1,"id":2}"#, with: .conflictingKeys(#""id" with "ack""#))
        assertFails(#"{"event":"e","error":{"message":"m"}}"#, with: .conflictingKeys(#""error" with "event""#))
        assertFails(#"{"ack":1,"data":2,"error":{"message":"m"}}"#, with: .conflictingKeys(#""error" with "data""#))
    }

    func test_envelopeCodec_rejectsDuplicateKnownKeys_withConflictingKeys() {
        assertFails(#"{"event":"a","event":"b"}"#, with: .conflictingKeys(#"duplicate key "event""#))
        assertFails(#"{"event":"a","data":1,"data":2}"#, with: .conflictingKeys(#"duplicate key "data""#))
        assertFails(#"{"event":"a","id":1,"id":1}"#, with: .conflictingKeys(#"duplicate key "id""#))
        assertFails(#"{"ack":1,"ack":1}"#, with: .conflictingKeys(#"duplicate key "ack""#))
        assertFails(#"{"ack":1,"error":{"message":"a"},"error":{"message":"a"}}"#, with: .conflictingKeys(#"duplicate key "error""#))
    }

    func test_envelopeCodec_allowsDuplicateUnknownKeys() {
        assertDecodes(#"{"x":1,"x":2,"event":"e"}"#, to: .event(name: "e", data: nil, id: nil))
    }

    func test_envelopeCodec_reportsFirstRuleBroken_inPayloadOrder() {
        assertFails(#"{"event":1,"id":-1}"#, with: .eventNotString)
        assertFails(#"{"id":-1,"event":1}"#, with: .invalidID)
    }

    // MARK: - JSON validity of the whole payload

    func test_envelopeCodec_rejectsTrailingGarbage_withInvalidJSON() {
        assertFails(#"{"event":"e"}x"#, with: .invalidJSON("unexpected character 'x' at offset 13"))
        assertInvalidJSON(#"{"event":"e"}{}"#)
        assertInvalidJSON(#"{"event":"e"},"#)
        assertInvalidJSON("{\"event\":\"e\"}\u{0}")
    }

    func test_envelopeCodec_rejectsInvalidJSON_beforeEnvelopeRules() {
        // Each breaks an envelope rule too; the JSON error wins because it is checked over the whole payload.
        assertInvalidJSON(#"{"event":1,"data":01}"#)
        assertInvalidJSON(#"{"ack":1,"event":"e",}"#)
        assertInvalidJSON(#"{"data":[1,2}"#)
        assertInvalidJSON(#"{"event":"e","event":"e""#)
    }

    func test_envelopeCodec_rejectsInvalidJSONInsideData() {
        for data in ["01", "1.", "-", "+1", ".5", "1e", "tru", "nul", "[1,]", #"{"a"}"#, #"{"a":1,}"#, "'x'", #""\q""#,
                     #""\u12""#, "\"a\u{7}b\"", "[1 2]", "{]"] {
            assertInvalidJSON(#"{"event":"e","data":\#(data)}"#)
        }
    }

    func test_envelopeCodec_rejectsInvalidJSONInsideSkippedUnknownValues() {
        assertInvalidJSON(#"{"event":"e","x":[1,,2]}"#)
        assertInvalidJSON(#"{"event":"e","x":{"a":01}}"#)
        assertInvalidJSON(#"{"ack":1,"error":{"message":"m","x":[}}"#)
    }

    func test_envelopeCodec_rejectsControlCharacterInEventName_withInvalidJSON() {
        assertFails("{\"event\":\"a\nb\"}", with: .invalidJSON("unescaped control character byte 0x0A in string at offset 11"))
    }

    func test_envelopeCodec_rejectsInvalidEscapeInEventName_withInvalidJSON() {
        assertFails(#"{"event":"a\xb"}"#, with: .invalidJSON(#"invalid escape at offset 11"#))
        assertFails(#"{"event":"\u00G1"}"#, with: .invalidJSON(#"invalid \u escape at offset 10"#))
    }

    func test_envelopeCodec_rejectsInvalidUTF8InEventName_withInvalidJSON() {
        let bytes: [UInt8] = Array(#"{"event":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        XCTAssertThrowsError(try EnvelopeCodec.decode(bytes)) { error in
            XCTAssertEqual(error as? EnvelopeError, .invalidJSON("invalid UTF-8 at offset 10"))
        }
    }

    func test_envelopeCodec_rejectsStructuralErrors_withInvalidJSON() {
        for text in ["{", #"{"event""#, #"{"event":"#, #"{"event":"e""#, #"{"event" "e"}"#, #"{event:"e"}"#,
                     #"{"event":"e",}"#, #"{,"event":"e"}"#, #"{"event":"e" "id":1}"#, #"{"event":'e'}"#] {
            assertInvalidJSON(text)
        }
    }

    // MARK: - Depth

    func test_envelopeCodec_acceptsDataNested_toMaxDepthCountingEnvelope() {
        let inner = EnvelopeCodec.maxDepth - 1
        let data = String(repeating: "[", count: inner) + String(repeating: "]", count: inner)
        assertDecodes(#"{"event":"e","data":\#(data)}"#, to: .event(name: "e", data: raw(data), id: nil))
    }

    func test_envelopeCodec_rejectsDataNested_beyondMaxDepth() {
        let inner = EnvelopeCodec.maxDepth
        let data = String(repeating: "[", count: inner) + String(repeating: "]", count: inner)
        assertFails(#"{"event":"e","data":\#(data)}"#, with: .invalidJSON("nesting deeper than 128 at offset 147"))
        let objects = String(repeating: #"{"a":"#, count: inner) + "1" + String(repeating: "}", count: inner)
        assertInvalidJSON(#"{"event":"e","x":\#(objects)}"#)
    }

    func test_envelopeCodec_rejectsHundredThousandNestedBrackets_withoutCrashing() {
        let hostile = Array(#"{"event":"e","data":"#.utf8) + [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        XCTAssertThrowsError(try EnvelopeCodec.decode(hostile)) { error in
            XCTAssertEqual(error as? EnvelopeError, .invalidJSON("nesting deeper than 128 at offset 147"))
        }
        XCTAssertThrowsError(try EnvelopeCodec.decode([UInt8](repeating: UInt8(ascii: "["), count: 100_000)))
    }

    // MARK: - Buffer entry point

    func test_envelopeCodec_decodesFromRawBuffer_likeFromArray() throws {
        var text = #"{"event":"chat","data":[1],"id":2}"#
        let envelope = try text.withUTF8 { try EnvelopeCodec.decode(UnsafeRawBufferPointer($0)) }
        XCTAssertEqual(envelope, .event(name: "chat", data: raw("[1]"), id: 2))
        XCTAssertThrowsError(try EnvelopeCodec.decode(UnsafeRawBufferPointer(start: nil, count: 0))) { error in
            XCTAssertEqual(error as? EnvelopeError, .invalidJSON("unexpected end of input at offset 0"))
        }
    }

    func test_envelopeCodec_decodesSlice_ofLargerBuffer() throws {
        let framed = Array("xx{\"ack\":9}yy".utf8)
        let envelope = try framed.withUnsafeBytes { try EnvelopeCodec.decode(UnsafeRawBufferPointer(rebasing: $0[2..<11])) }
        XCTAssertEqual(envelope, .ack(id: 9, data: nil))
    }

    // MARK: - Encoding

    func test_envelopeCodec_encodesEvent_inKeyOrder() {
        XCTAssertEqual(encoded(.event(name: "chat", data: raw(#"{"a":1}"#), id: 42)), #"{"event":"chat","data":{"a":1},"id":42}"#)
        XCTAssertEqual(encoded(.event(name: "chat", data: raw("[1, 2]"), id: nil)), #"{"event":"chat","data":[1, 2]}"#)
        XCTAssertEqual(encoded(.event(name: "chat", data: nil, id: 0)), #"{"event":"chat","id":0}"#)
        XCTAssertEqual(encoded(.event(name: "chat", data: nil, id: nil)), #"{"event":"chat"}"#)
        XCTAssertEqual(encoded(.event(name: "e", data: .null, id: nil)), #"{"event":"e","data":null}"#)
    }

    func test_envelopeCodec_encodesAcks_inKeyOrder() {
        XCTAssertEqual(encoded(.ack(id: 7, data: raw(#""ok""#))), #"{"ack":7,"data":"ok"}"#)
        XCTAssertEqual(encoded(.ack(id: 7, data: nil)), #"{"ack":7}"#)
        XCTAssertEqual(encoded(.ackError(id: 9_007_199_254_740_991, message: "no \"room\"")),
                       #"{"ack":9007199254740991,"error":{"message":"no \"room\""}}"#)
    }

    func test_envelopeCodec_encodesLargestID_inDecimal() {
        XCTAssertEqual(encoded(.ack(id: .max, data: nil)), #"{"ack":18446744073709551615}"#)
        XCTAssertEqual(encoded(.ack(id: 1_000_000, data: nil)), #"{"ack":1000000}"#)
    }

    func test_envelopeCodec_escapesEventName_whenEncoding() {
        XCTAssertEqual(encoded(.event(name: "a\"b\n🎉", data: nil, id: nil)), #"{"event":"a\"b\n🎉"}"#)
    }

    func test_envelopeCodec_roundTripsAllThreeCases() throws {
        let envelopes: [Envelope] = [
            .event(name: "chat", data: raw(#"{"text":"hi 🎉","n":[1,2.5,null]}"#), id: nil),
            .event(name: "with \"quotes\"\t\u{1}é", data: nil, id: 9_007_199_254_740_991),
            .event(name: "", data: .null, id: 0),
            .ack(id: 1, data: raw(#""done""#)),
            .ack(id: 2, data: nil),
            .ackError(id: 3, message: "failed:\n\\ \"nope\" 😀"),
            .ackError(id: 4, message: ""),
        ]
        for envelope in envelopes {
            XCTAssertEqual(try EnvelopeCodec.decode(EnvelopeCodec.encode(envelope)), envelope)
        }
    }

    func test_envelopeCodec_encodesIntoBuffer_sameBytesAsArray() {
        let envelopes: [Envelope] = [
            .event(name: "chat", data: raw(#"{"a":1}"#), id: 42),
            .event(name: "a\"b\n\u{1}🎉", data: nil, id: nil),
            .event(name: "", data: .null, id: 0),
            .ack(id: .max, data: raw("[1, 2]")),
            .ack(id: 0, data: nil),
            .ackError(id: 9, message: "no \"room\"\t\\ 😀"),
        ]
        for envelope in envelopes {
            let expected = EnvelopeCodec.encode(envelope)
            XCTAssertEqual(EnvelopeCodec.encodedCount(envelope), expected.count, "\(envelope)")
            var written = [UInt8](repeating: 0, count: expected.count)
            written.withUnsafeMutableBytes { EnvelopeCodec.encode(envelope, into: $0) }
            XCTAssertEqual(written, expected, "\(envelope)")
        }
    }

    // MARK: - appendJSONString

    func test_envelopeCodec_appendJSONString_escapesQuotesAndBackslash() {
        XCTAssertEqual(jsonString(#"say "hi" \ bye"#), #""say \"hi\" \\ bye""#)
        XCTAssertEqual(jsonString(""), #""""#)
        XCTAssertEqual(jsonString("/"), #""/""#)
    }

    func test_envelopeCodec_appendJSONString_escapesEveryControlCharacter() {
        XCTAssertEqual(jsonString("\n\r\t\u{8}\u{C}"), #""\n\r\t\b\f""#)
        XCTAssertEqual(jsonString("\u{0}\u{1}\u{1F}\u{B}"), #""\u0000\u0001\u001f\u000b""#)
        XCTAssertEqual(jsonString("\u{7F}"), "\"\u{7F}\"")
        for scalar in 0..<0x20 {
            let literal = jsonString(String(Character(Unicode.Scalar(UInt8(scalar)))))
            XCTAssertFalse(literal.utf8.contains { $0 < 0x20 }, "\(scalar)")
            XCTAssertEqual(try RawJSON(json: literal).decode(String.self).unicodeScalars.first?.value, UInt32(scalar))
        }
    }

    func test_envelopeCodec_appendJSONString_writesNonASCII_asRawUTF8() {
        XCTAssertEqual(jsonString("é🎉日本"), "\"é🎉日本\"")
        XCTAssertEqual(Array(jsonString("🎉").utf8), [0x22, 0xF0, 0x9F, 0x8E, 0x89, 0x22])
    }

    func test_envelopeCodec_appendJSONString_appendsToExistingBytes() {
        var out = Array("[".utf8)
        EnvelopeCodec.appendJSONString("a", to: &out)
        out.append(UInt8(ascii: ","))
        EnvelopeCodec.appendJSONString("b\"", to: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #"["a","b\"""#)
    }

    func test_envelopeCodec_appendJSONString_outputDecodesBackToInput() throws {
        for text in ["plain", "q\"b\\s/", "\u{0}x\u{1F}", "mixed \n é \t 🎉 \"end\"", String(repeating: "ab\"", count: 40)] {
            XCTAssertEqual(try RawJSON(json: jsonString(text)).decode(String.self), text)
        }
    }
}
