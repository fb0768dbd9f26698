import XCTest
@testable import ParleyClient

final class OutboxTests: XCTestCase {
    private typealias Message = Outbox<String>.Message

    private func message(_ event: String, ack: UInt64? = nil, size: Int = 10) -> Message {
        Message(event: event, ackID: ack, bytes: Array(repeating: UInt8(ascii: "x"), count: size))
    }

    func test_outbox_flushesBufferedEmitsInOrder_andEmptiesTheBuffer() {
        var outbox = Outbox<String>(limit: 10, byteLimit: 1_000, maxPendingAcks: 10)
        for name in ["a", "b", "c"] { XCTAssertTrue(outbox.buffer(message(name)).isEmpty) }
        XCTAssertEqual(outbox.bufferedBytes, 30)
        XCTAssertEqual(outbox.takeBuffered().map(\.event), ["a", "b", "c"])
        XCTAssertTrue(outbox.buffered.isEmpty)
        XCTAssertEqual(outbox.bufferedBytes, 0)
    }

    func test_outbox_dropsOldest_whenCountLimitReached() {
        var outbox = Outbox<String>(limit: 3, byteLimit: 1_000, maxPendingAcks: 10)
        let id = outbox.expectAck(event: "a", waiter: "waiter of a")
        _ = outbox.buffer(message("a", ack: id))
        _ = outbox.buffer(message("b"))
        _ = outbox.buffer(message("c"))
        let dropped = outbox.buffer(message("d"))
        XCTAssertEqual(dropped.map(\.message.event), ["a"])
        XCTAssertEqual(dropped.map(\.waiter), ["waiter of a"])
        XCTAssertEqual(outbox.buffered.map(\.event), ["b", "c", "d"])
        XCTAssertEqual(outbox.pendingCount, 0, "the dropped emit's ack is no longer awaited")
    }

    func test_outbox_dropsOldestUntilItFits_whenByteLimitReached() {
        var outbox = Outbox<String>(limit: 100, byteLimit: 50, maxPendingAcks: 10)
        _ = outbox.buffer(message("a", size: 20))
        _ = outbox.buffer(message("b", size: 20))
        let dropped = outbox.buffer(message("c", size: 25))
        XCTAssertEqual(dropped.map(\.message.event), ["a"])
        XCTAssertEqual(outbox.bufferedBytes, 45)
        // An emit bigger than the whole limit is kept alone.
        XCTAssertEqual(outbox.buffer(message("huge", size: 80)).map(\.message.event), ["b", "c"])
        XCTAssertEqual(outbox.buffered.map(\.event), ["huge"])
    }

    func test_outbox_expiredBufferedEmit_leavesTheBuffer_andIsNeverSent() throws {
        var outbox = Outbox<String>(limit: 10, byteLimit: 1_000, maxPendingAcks: 10)
        _ = outbox.buffer(message("before"))
        let id = try XCTUnwrap(outbox.expectAck(event: "ask", waiter: "w"))
        _ = outbox.buffer(message("ask", ack: id))
        _ = outbox.buffer(message("after"))
        let expired = outbox.expire(id)
        XCTAssertEqual(expired?.waiter, "w")
        XCTAssertEqual(expired?.event, "ask")
        XCTAssertEqual(outbox.takeBuffered().map(\.event), ["before", "after"])
        XCTAssertNil(outbox.answer(id), "a late answer finds nobody")
    }

    func test_outbox_answersEachAckOnce_andIgnoresUnknownIDs() {
        var outbox = Outbox<String>(limit: 10, byteLimit: 1_000, maxPendingAcks: 10)
        let first = outbox.expectAck(event: "a", waiter: "1")
        let second = outbox.expectAck(event: "b", waiter: "2")
        XCTAssertEqual(first, 1)
        XCTAssertEqual(second, 2)
        XCTAssertEqual(outbox.answer(2), "2")
        XCTAssertNil(outbox.answer(2))
        XCTAssertNil(outbox.answer(99))
        XCTAssertNil(outbox.expire(2))
        XCTAssertEqual(outbox.pendingCount, 1)
    }

    func test_outbox_connectionLoss_failsSentAcksOnly() throws {
        var outbox = Outbox<String>(limit: 10, byteLimit: 1_000, maxPendingAcks: 10)
        let sent = try XCTUnwrap(outbox.expectAck(event: "sent", waiter: "sent"))
        outbox.markSent(sent)
        let flushed = try XCTUnwrap(outbox.expectAck(event: "flushed", waiter: "flushed"))
        _ = outbox.buffer(message("flushed", ack: flushed))
        _ = outbox.takeBuffered()
        let waiting = try XCTUnwrap(outbox.expectAck(event: "waiting", waiter: "waiting"))
        _ = outbox.buffer(message("waiting", ack: waiting))
        XCTAssertEqual(outbox.takeSentWaiters(), ["sent", "flushed"])
        XCTAssertEqual(outbox.pendingCount, 1)
        XCTAssertEqual(outbox.buffered.map(\.event), ["waiting"])
    }

    func test_outbox_refusesAcks_beyondMaxPending() {
        var outbox = Outbox<String>(limit: 10, byteLimit: 1_000, maxPendingAcks: 2)
        XCTAssertNotNil(outbox.expectAck(event: "a", waiter: "1"))
        XCTAssertNotNil(outbox.expectAck(event: "b", waiter: "2"))
        XCTAssertNil(outbox.expectAck(event: "c", waiter: "3"))
        _ = outbox.answer(1)
        XCTAssertEqual(outbox.expectAck(event: "c", waiter: "3"), 3)
    }
}
