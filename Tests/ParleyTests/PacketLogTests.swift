@testable import Parley
import ParleyWebSocket
import XCTest

final class PacketLogTests: XCTestCase {
    private let everyone = BroadcastSelection(namespace: "/")
    private let frame = EncodedFrame(text: "{}")

    func test_packetLog_keepsAtMostMaxPackets_andRefusesOffsetsBeforeTheFirstKept() {
        var log = PacketLog(maxPackets: 3, maxBytes: 1 << 20, maxAge: .seconds(60))
        let now = ContinuousClock.now
        for _ in 1...5 { log.append(selection: everyone, frame: frame, size: 10, now: now) }
        XCTAssertEqual(log.count, 3)
        XCTAssertEqual(log.lastOffset, 5)
        XCTAssertEqual(log.packets(after: 2).map { $0.map(\.offset) }, [3, 4, 5])
        XCTAssertEqual(log.packets(after: 5).map { $0.map(\.offset) }, [])
        XCTAssertNil(log.packets(after: 1), "offset 2 is gone: no partial replay")
        XCTAssertNil(log.packets(after: 6), "an offset never given out")
    }

    func test_packetLog_keepsAtMostMaxBytes_andDropsOlderThanMaxAge() {
        var log = PacketLog(maxPackets: 100, maxBytes: 25, maxAge: .seconds(1))
        let start = ContinuousClock.now
        for _ in 1...3 { log.append(selection: everyone, frame: frame, size: 10, now: start) }
        XCTAssertEqual(log.count, 2)
        XCTAssertEqual(log.bytes, 20)
        log.trim(now: start + .seconds(2))
        XCTAssertEqual(log.count, 0)
        XCTAssertNotNil(log.packets(after: 3), "nothing missed after the last offset")
        XCTAssertNil(log.packets(after: 2))
    }

    func test_broadcastSelection_matchesRecoveredSocket_byTheRulesOfTheRoomStore() {
        let rooms: Set<String> = ["a"]
        XCTAssertTrue(BroadcastSelection(namespace: "/").matches(id: "s", rooms: rooms))
        XCTAssertTrue(BroadcastSelection(namespace: "/", rooms: ["a", "b"]).matches(id: "s", rooms: rooms))
        XCTAssertTrue(BroadcastSelection(namespace: "/", rooms: ["s"]).matches(id: "s", rooms: rooms))
        XCTAssertFalse(BroadcastSelection(namespace: "/", rooms: ["b"]).matches(id: "s", rooms: rooms))
        XCTAssertFalse(BroadcastSelection(namespace: "/", exceptRooms: ["a"]).matches(id: "s", rooms: rooms))
        XCTAssertFalse(BroadcastSelection(namespace: "/", exceptSocket: "s").matches(id: "s", rooms: rooms))
    }

    func test_sessionStore_takesOnce_reportsExpiredThenForgets() {
        var store = SessionStore(window: .seconds(1), limit: 2)
        let now = ContinuousClock.now
        let session = { (token: String) in SessionStore.Session(token: token, id: "id-" + token, rooms: [], data: SocketData(), disconnected: now) }
        store.save(session("a"))
        XCTAssertEqual(try store.take("a", now: now).get().id, "id-a")
        XCTAssertEqual(store.take("a", now: now).failure, .unknownSession, "taken once")
        store.save(session("b"))
        XCTAssertEqual(store.take("b", now: now + .seconds(2)).failure, .sessionExpired)
        store.save(session("c"))
        store.save(session("d"))
        store.save(session("e"))
        XCTAssertEqual(store.count, 2, "the oldest goes first beyond the limit")
        XCTAssertEqual(store.take("c", now: now).failure, .unknownSession)
        XCTAssertEqual(store.take("e", now: now + .seconds(30)).failure, .unknownSession, "forgotten after the window and 10 s more")
    }
}

private extension Result {
    var failure: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
