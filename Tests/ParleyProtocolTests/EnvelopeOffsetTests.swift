import ParleyProtocol
import XCTest

final class EnvelopeOffsetTests: XCTestCase {
    private func decode(_ text: String) throws -> (Envelope, String?) {
        var offset: String?
        let envelope = try Array(text.utf8).withUnsafeBytes { try EnvelopeCodec.decode($0, offset: &offset) }
        return (envelope, offset)
    }

    func test_envelopeCodec_appendsOffsetLast_withoutEncodingAgain() {
        let plain = EnvelopeCodec.encode(.event(name: "n", data: RawJSON(unchecked: Array("[1]".utf8)), id: nil))
        XCTAssertEqual(String(decoding: EnvelopeCodec.appendingOffset("41", to: plain), as: UTF8.self), #"{"event":"n","data":[1],"offset":"41"}"#)
        XCTAssertEqual(String(decoding: EnvelopeCodec.encode(.event(name: "n", data: nil, id: nil), offset: "7"), as: UTF8.self),
                       #"{"event":"n","offset":"7"}"#)
        XCTAssertEqual(EnvelopeCodec.encode(.event(name: "n", data: nil, id: nil), offset: nil), Array(#"{"event":"n"}"#.utf8))
    }

    func test_envelopeCodec_decodesStringOffset_anywhereInTheObject() throws {
        let (envelope, offset) = try decode(#"{"offset":"1712345678901-0","event":"n","data":2}"#)
        XCTAssertEqual(envelope, .event(name: "n", data: RawJSON(unchecked: Array("2".utf8)), id: nil))
        XCTAssertEqual(offset, "1712345678901-0")
    }

    func test_envelopeCodec_ignoresOffsetThatIsNotAString() throws {
        let (_, offset) = try decode(#"{"event":"n","offset":41}"#)
        XCTAssertNil(offset)
        let (_, absent) = try decode(#"{"event":"n"}"#)
        XCTAssertNil(absent)
    }

    func test_envelopeCodec_refusesDuplicateOffset() {
        XCTAssertThrowsError(try decode(#"{"event":"n","offset":"1","offset":"2"}"#))
    }
}
