import XCTest
@testable import ParleyProtocol

/// `RawJSON.string(forKey:)`: one member of an object, read without decoding the rest.
final class RawJSONLookupTests: XCTestCase {
    private func json(_ text: String) throws -> RawJSON { try RawJSON(json: text) }

    func test_stringForKey_findsTheMember_anywhereInTheObject() throws {
        XCTAssertEqual(try json(#"{"room":"lobby","text":"hi"}"#).string(forKey: "room"), "lobby")
        XCTAssertEqual(try json(#"{"a":[1,{"room":"inner"}],"b":null, "room" : "outer"}"#).string(forKey: "room"), "outer")
        XCTAssertEqual(try json(#" { "room":"caf\u00e9 \ud83d\ude00" } "#).string(forKey: "room"), "café 😀")
        XCTAssertEqual(try json(#"{"r\u006fom":"escaped name"}"#).string(forKey: "room"), "escaped name")
        XCTAssertEqual(try json(#"{"room":""}"#).string(forKey: "room"), "")
    }

    func test_stringForKey_isNil_whenAbsentOrNotAString() throws {
        XCTAssertNil(try json(#"{}"#).string(forKey: "room"))
        XCTAssertNil(try json(#"{"rooms":"x","roo":"y"}"#).string(forKey: "room"))
        XCTAssertNil(try json(#"{"room":1}"#).string(forKey: "room"))
        XCTAssertNil(try json(#"{"room":null}"#).string(forKey: "room"))
        XCTAssertNil(try json(#"["room","x"]"#).string(forKey: "room"))
        XCTAssertNil(try json(#""room""#).string(forKey: "room"))
        XCTAssertNil(RawJSON(unchecked: Array(#"{"a":tru"#.utf8)).string(forKey: "room"), "malformed bytes: nil, no trap")
    }

    func test_stringForKey_readsNoFurther_thanTheMember() throws {
        // What follows the member is never read: unchecked bytes that are not JSON after it.
        let bytes = Array(#"{"room":"r","rest":"#.utf8) + [0xFF, 0xFE] + Array(repeating: UInt8(ascii: "["), count: 100)
        XCTAssertEqual(RawJSON(unchecked: bytes).string(forKey: "room"), "r")
    }
}
