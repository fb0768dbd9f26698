@testable import Parley
import ParleyWebSocket
import XCTest

final class RecoveryOffsetTests: XCTestCase {
    func test_recoveryOffset_parsesBothForms_andRefusesOthers() {
        XCTAssertEqual(RecoveryOffset("41"), RecoveryOffset(minor: 41))
        XCTAssertEqual(RecoveryOffset("1712345678901-3"), RecoveryOffset(major: 1_712_345_678_901, minor: 3))
        XCTAssertEqual(RecoveryOffset("0-0"), RecoveryOffset(minor: 0))
        for bad in ["", "-", "1-", "-1", "1-2-3", "+1", " 1", "1.0", "x", "18446744073709551616", "1e3"] {
            XCTAssertNil(RecoveryOffset(bad), bad)
        }
        XCTAssertEqual(RecoveryOffset(minor: 41).text(cluster: false), "41")
        XCTAssertEqual(RecoveryOffset(major: 5, minor: 0).text(cluster: true), "5-0")
    }

    func test_recoveryOffset_comparesMajorThenMinor() {
        XCTAssertLessThan(RecoveryOffset(major: 1, minor: 9), RecoveryOffset(major: 2, minor: 0))
        XCTAssertLessThan(RecoveryOffset(major: 2, minor: 0), RecoveryOffset(major: 2, minor: 1))
        XCTAssertLessThan(RecoveryOffset(minor: 99), RecoveryOffset(major: 1, minor: 0))
    }

    func test_packetLog_withGivenOffsets_findsTheEventsAfterAnyOffsetFromItsStart() {
        var log = PacketLog(maxPackets: 100, maxBytes: 1 << 20, maxAge: .seconds(60))
        let everyone = BroadcastSelection(namespace: "/")
        let frame = EncodedFrame(text: "{}")
        let start = RecoveryOffset(major: 1000, minor: 0)
        log.start(at: start)
        XCTAssertEqual(log.lastOffset, start)
        let offsets = [RecoveryOffset(major: 1000, minor: 1), RecoveryOffset(major: 1005, minor: 0), RecoveryOffset(major: 1005, minor: 1)]
        for offset in offsets { log.append(selection: everyone, frame: frame, size: 2, now: .now, offset: offset) }
        log.start(at: RecoveryOffset(major: 1, minor: 0))   // once started, not again
        XCTAssertEqual(log.packets(after: start).map { $0.map(\.offset) }, offsets)
        XCTAssertEqual(log.packets(after: offsets[0]).map { $0.map(\.offset) }, Array(offsets[1...]))
        // An offset between two entries (another node's, or one of an entry not kept here).
        XCTAssertEqual(log.packets(after: RecoveryOffset(major: 1003, minor: 0)).map { $0.map(\.offset) }, Array(offsets[1...]))
        XCTAssertEqual(log.packets(after: offsets[2]).map { $0.map(\.offset) }, [])
        XCTAssertNil(log.packets(after: RecoveryOffset(major: 999, minor: 0)), "before the log started: not here")
    }
}
