import XCTest
@testable import Parley

final class SocketIDTests: XCTestCase {
    func test_socketRandomID_is22Base64URLCharacters_andUnique() {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = RandomID().description
            XCTAssertEqual(id.count, 22)
            XCTAssertTrue(id.allSatisfy(allowed.contains), "unexpected character in \(id)")
            seen.insert(id)
        }
        XCTAssertEqual(seen.count, 10_000, "ids repeated")
    }

    func test_socketRandomID_usesEveryPositionOfTheAlphabet() {
        // Over many ids every character position but the last (which carries 2 random bits)
        // takes many distinct values: the bits are spread, not stuck.
        var distinct = [Set<Character>](repeating: [], count: 22)
        for _ in 0..<2_000 {
            for (index, character) in RandomID().description.enumerated() { distinct[index].insert(character) }
        }
        for index in 0..<21 { XCTAssertGreaterThan(distinct[index].count, 40, "position \(index)") }
        XCTAssertEqual(distinct[21].count, 4, "the last character holds 2 random bits")
    }
}
