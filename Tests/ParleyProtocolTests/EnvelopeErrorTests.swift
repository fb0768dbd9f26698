import XCTest
import ParleyProtocol

final class EnvelopeErrorTests: XCTestCase {
    func test_envelopeError_description_namesTheProblem() {
        XCTAssertEqual(EnvelopeError.invalidJSON("unexpected character 'x' at offset 12").description,
                       "invalid JSON: unexpected character 'x' at offset 12")
        XCTAssertEqual(EnvelopeError.notAnObject.description, "the envelope is not a JSON object")
        XCTAssertEqual(EnvelopeError.missingEvent.description, #"the envelope has neither "event" nor "ack""#)
        XCTAssertEqual(EnvelopeError.eventNotString.description, #""event" is not a string"#)
        XCTAssertEqual(EnvelopeError.invalidID.description, #""id" or "ack" is not an integer in 0...9007199254740991"#)
        XCTAssertEqual(EnvelopeError.invalidError.description, #""error" is not an object with a string "message""#)
        XCTAssertEqual(EnvelopeError.conflictingKeys(#""id" with "ack""#).description, #"conflicting keys: "id" with "ack""#)
    }

    func test_envelopeError_equality_comparesAssociatedText() {
        XCTAssertEqual(EnvelopeError.invalidJSON("a"), .invalidJSON("a"))
        XCTAssertNotEqual(EnvelopeError.invalidJSON("a"), .invalidJSON("b"))
        XCTAssertNotEqual(EnvelopeError.conflictingKeys("a"), .conflictingKeys("b"))
        XCTAssertNotEqual(EnvelopeError.invalidID, .invalidError)
    }

    func test_envelopeError_isTypedThrow_ofDecode() {
        do {
            _ = try EnvelopeCodec.decode(Array("[]".utf8))
            XCTFail("decoded a non-object")
        } catch {
            // `error` is statically an EnvelopeError: decode uses typed throws.
            XCTAssertEqual(error, .notAnObject)
        }
    }
}
