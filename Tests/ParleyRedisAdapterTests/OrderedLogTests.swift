@testable import ParleyRedisAdapter
import XCTest

/// The ordered log's count of entries that never reached a node (Protocol.md 11.1): each
/// node's entries in a stream are numbered 1, 2, 3..., and a reader counts the jumps.
final class OrderedLogTests: XCTestCase {
    let other = OrderedLog.Origin(node: Array(repeating: 1, count: 16), namespace: "/")
    let this = OrderedLog.Origin(node: Array(repeating: 2, count: 16), namespace: "/")

    func test_read_countsNothing_forTheFirstEntryAndConsecutiveOnes() {
        var log = OrderedLog()
        XCTAssertEqual(log.read(41, from: other, isThisNode: false), 0, "a reader starts anywhere")
        XCTAssertEqual(log.read(42, from: other, isThisNode: false), 0)
        XCTAssertEqual(log.read(43, from: other, isThisNode: false), 0)
        XCTAssertEqual(log.missed, 0)
    }

    func test_read_countsAJump_asMissedEntries() {
        var log = OrderedLog()
        _ = log.read(1, from: other, isThisNode: false)
        XCTAssertEqual(log.read(69, from: other, isThisNode: false), 67)
        XCTAssertEqual(log.read(70, from: other, isThisNode: false), 0)
        XCTAssertEqual(log.read(72, from: other, isThisNode: false), 1)
        XCTAssertEqual(log.missed, 68)
    }

    func test_read_keepsNodesAndNamespacesApart() {
        var log = OrderedLog()
        let otherElsewhere = OrderedLog.Origin(node: other.node, namespace: "/admin")
        _ = log.read(1, from: other, isThisNode: false)
        _ = log.read(1, from: otherElsewhere, isThisNode: false)
        _ = log.read(5, from: this, isThisNode: true)
        XCTAssertEqual(log.read(2, from: other, isThisNode: false), 0)
        XCTAssertEqual(log.read(2, from: otherElsewhere, isThisNode: false), 0)
        XCTAssertEqual(log.read(6, from: this, isThisNode: true), 0)
        XCTAssertEqual(log.missed, 0)
    }

    func test_read_doesNotCount_thisNodesEntriesLostInFlight_whichWereDeliveredWhenMade() {
        var log = OrderedLog()
        _ = log.read(1, from: this, isThisNode: true)
        log.fellBack.insert(OrderedLog.Appended(namespace: "/", sequence: 2))
        log.fellBack.insert(OrderedLog.Appended(namespace: "/", sequence: 3))
        log.fellBack.insert(OrderedLog.Appended(namespace: "/admin", sequence: 4))
        XCTAssertEqual(log.read(5, from: this, isThisNode: true), 1, "2 and 3 fell back; 4 of this stream did not")
        XCTAssertEqual(log.fellBack, [OrderedLog.Appended(namespace: "/admin", sequence: 4)])
        XCTAssertEqual(log.missed, 1)
    }

    func test_read_startsAgain_whenItRemembersTooManyOrigins() {
        var log = OrderedLog()
        for node in 0..<OrderedLog.maxOrigins {
            _ = log.read(1, from: OrderedLog.Origin(node: withUnsafeBytes(of: UInt64(node)) { Array($0) }, namespace: "/"),
                         isThisNode: false)
        }
        XCTAssertEqual(log.lastRead.count, OrderedLog.maxOrigins)
        XCTAssertEqual(log.read(9, from: other, isThisNode: false), 0, "a new origin past the bound starts afresh")
        XCTAssertEqual(log.lastRead.count, 1)
        XCTAssertEqual(log.read(11, from: other, isThisNode: false), 1)
    }
}
