import XCTest
@testable import Parley

/// Socket ids, recovery tokens and Engine.IO session ids: 128 bits as 22 base64url characters.
final class RandomIDTests: XCTestCase {
    func test_description_isUnpaddedBase64URLOfTheBits_forKnownWords() {
        // base64url(01 23 45 67 89 AB CD EF FE DC BA 98 76 54 32 10), "==" dropped.
        let id = RandomID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)
        XCTAssertEqual(id.description, "ASNFZ4mrze_-3LqYdlQyEA")
        XCTAssertEqual(RandomID(high: 0, low: 0).description, "AAAAAAAAAAAAAAAAAAAAAA")
        XCTAssertEqual(RandomID(high: .max, low: .max).description, "_____________________w")
    }

    func test_parse_readsBackTheWords_forKnownTextAndRandomIDs() {
        XCTAssertEqual(RandomID("ASNFZ4mrze_-3LqYdlQyEA"), RandomID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210))
        XCTAssertEqual(RandomID("_____________________w"), RandomID(high: .max, low: .max))
        for _ in 0..<1_000 {
            let id = RandomID()
            XCTAssertEqual(id.description.utf8.count, 22)
            XCTAssertEqual(RandomID(id.description), id, id.description)
        }
    }

    func test_parse_refusesTextNoIDHas_forWrongLengthAlphabetOrPadding() {
        XCTAssertNil(RandomID(""))
        XCTAssertNil(RandomID("ASNFZ4mrze_-3LqYdlQyE"), "21 characters")
        XCTAssertNil(RandomID("ASNFZ4mrze_-3LqYdlQyEAA"), "23 characters")
        XCTAssertNil(RandomID("ASNFZ4mrze_-3LqYdlQyEB"), "padding bits set in the last character")
        XCTAssertNil(RandomID("ASNFZ4mrze+/3LqYdlQyEA"), "base64, not base64url")
        XCTAssertNil(RandomID("ASNFZ4mrze_-3LqYdlQy=="))
        XCTAssertNil(RandomID("ASNFZ4mrze_-3LqYdlQyÉ"))
    }
}
