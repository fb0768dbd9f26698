import XCTest
import ParleyProtocol
@testable import Parley

final class EngineIOSessionTests: XCTestCase {
    private let settings = EngineIOSession.Settings(pingInterval: .seconds(25), pingTimeout: .seconds(20), maxQueuedBytes: 100)
    private let second: UInt64 = 1_000_000_000

    private func message(_ text: String) -> EngineIOPacket { .message(Array(text.utf8)) }
    private func body(_ packets: [EngineIOPacket]) -> [UInt8] { EngineIOCodec.encodePayload(packets) }

    private func polling() -> EngineIOSession { EngineIOSession(settings: settings, webSocket: false, now: 0) }

    func test_session_openPacket_announcesSidUpgradesAndTimings() {
        let open = EngineIOSession.openPacket(sid: "abc", upgrades: true, settings: settings, maxPayload: 1_000_000)
        XCTAssertEqual(String(decoding: EngineIOCodec.encode(open), as: UTF8.self),
                       #"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#)
    }

    func test_session_holdsPoll_untilAPacketIsSent() {
        var session = polling()
        XCTAssertEqual(session.poll(request: 1, now: 0), [])
        XCTAssertEqual(session.heldPoll, 1)
        XCTAssertEqual(session.send([message("a"), message("b")]), [.answerPoll(request: 1, body: body([message("a"), message("b")]))])
        XCTAssertNil(session.heldPoll)
    }

    func test_session_answersPollAtOnce_whenPacketsAreQueued() {
        var session = polling()
        XCTAssertEqual(session.send([message("a")]), [])
        XCTAssertEqual(session.poll(request: 2, now: 0), [.answerPoll(request: 2, body: body([message("a")]))])
    }

    func test_session_pingsAtInterval_andAnswersHeldPollWithIt() {
        var session = polling()
        _ = session.poll(request: 1, now: 0)
        XCTAssertEqual(session.nextDeadline, 25 * second)
        XCTAssertEqual(session.tick(now: 24 * second), [])
        XCTAssertEqual(session.tick(now: 25 * second), [.answerPoll(request: 1, body: body([.ping([])]))])
        XCTAssertEqual(session.nextDeadline, 45 * second)
    }

    func test_session_closesWithPingTimeout_whenNoPongComes() {
        var session = polling()
        _ = session.tick(now: 25 * second)
        XCTAssertEqual(session.tick(now: 44 * second), [])
        XCTAssertEqual(session.tick(now: 45 * second), [.closed(.pingTimeout)])
        XCTAssertFalse(session.isOpen)
    }

    func test_session_pong_schedulesNextPing_fromItsArrival() {
        var session = polling()
        _ = session.tick(now: 25 * second)
        XCTAssertEqual(session.received([.pong([])], now: 30 * second), [])
        XCTAssertEqual(session.nextDeadline, 55 * second)
        XCTAssertEqual(session.tick(now: 50 * second), [])
    }

    func test_session_deliversPostedMessages_inOrder() {
        var session = polling()
        XCTAssertEqual(session.received([message("1"), .binary([7]), .pong([]), message("2")], now: 0),
                       [.deliver([message("1"), .binary([7]), message("2")])])
    }

    func test_session_secondConcurrentPoll_isRefused_andClosesSession() {
        var session = polling()
        _ = session.poll(request: 1, now: 0)
        XCTAssertEqual(session.poll(request: 2, now: 0), [
            .refusePoll(request: 2), .answerPoll(request: 1, body: body([.close])), .closed(.transportError),
        ])
        XCTAssertEqual(session.phase, .finished)
    }

    func test_session_clientClosePacket_endsSession() {
        var session = polling()
        XCTAssertEqual(session.received([message("x"), .close], now: 0), [.deliver([message("x")]), .closed(.transportClose)])
    }

    func test_session_abortedPoll_endsSession() {
        var session = polling()
        _ = session.poll(request: 1, now: 0)
        XCTAssertEqual(session.pollAborted(request: 9), [])
        XCTAssertEqual(session.pollAborted(request: 1), [.closed(.transportClose)])
    }

    func test_session_serverClose_letsLastPollCollectQueueAndClosePacket() {
        var session = polling()
        _ = session.send([message("bye")])
        XCTAssertEqual(session.close(now: 0), [.closed(.serverClose)])
        XCTAssertEqual(session.phase, .closing)
        XCTAssertEqual(session.send([message("late")]), [])
        XCTAssertEqual(session.poll(request: 3, now: 1), [.answerPoll(request: 3, body: body([message("bye"), .close]))])
        XCTAssertEqual(session.phase, .finished)
    }

    func test_session_serverClose_finishesAfterLinger_withoutPoll() {
        var session = polling()
        _ = session.close(now: 0)
        XCTAssertEqual(session.nextDeadline, 2 * second)
        XCTAssertEqual(session.tick(now: 2 * second), [])
        XCTAssertEqual(session.phase, .finished)
    }

    func test_session_serverClose_answersHeldPollWithClosePacket() {
        var session = polling()
        _ = session.poll(request: 1, now: 0)
        XCTAssertEqual(session.close(now: 0), [.answerPoll(request: 1, body: body([.close])), .closed(.serverClose)])
    }

    func test_session_queueOverflow_closesSession() {
        var session = polling()
        XCTAssertEqual(session.send([message(String(repeating: "x", count: 60))]), [])
        XCTAssertEqual(session.send([message(String(repeating: "y", count: 60))]), [.closed(.queueFull)])
    }

    func test_session_volatile_isDroppedWithoutHeldPoll() {
        var session = polling()
        XCTAssertEqual(session.send([message("v")], volatile: true), [])
        XCTAssertEqual(session.queuedBytes, 0)
        _ = session.poll(request: 1, now: 0)
        XCTAssertEqual(session.send([message("v")], volatile: true), [.answerPoll(request: 1, body: body([message("v")]))])
    }

    // MARK: Upgrade

    func test_session_upgrade_probeNoopAndSwitch() {
        var session = polling()
        _ = session.poll(request: 1, now: 0)
        XCTAssertEqual(session.webSocketAttached(now: 0), [.answerPoll(request: 1, body: body([.noop]))])
        XCTAssertEqual(session.phase, .probing)
        XCTAssertEqual(session.poll(request: 2, now: 0), [.answerPoll(request: 2, body: body([.noop]))])
        _ = session.poll(request: 3, now: 0)
        XCTAssertEqual(session.probe(.ping(Array("probe".utf8)), now: 0),
                       [.send([.pong(Array("probe".utf8))])])
        _ = session.send([message("queued")])
        XCTAssertEqual(session.probe(.upgrade, now: 0), [.send([message("queued")])])
        XCTAssertEqual(session.phase, .webSocket)
        XCTAssertEqual(session.send([message("direct")]), [.send([message("direct")])])
        XCTAssertEqual(session.poll(request: 4, now: 0), [.refusePoll(request: 4)])
    }

    func test_session_upgrade_answersPollHeldDuringProbe_withNoop() {
        var session = polling()
        XCTAssertEqual(session.webSocketAttached(now: 0), [])
        XCTAssertEqual(session.poll(request: 1, now: 0), [.answerPoll(request: 1, body: body([.noop]))])
    }

    func test_session_upgrade_refusesSecondWebSocket() {
        var session = polling()
        XCTAssertNotNil(session.webSocketAttached(now: 0))
        XCTAssertNil(session.webSocketAttached(now: 0))
    }

    func test_session_upgrade_failsOnUnexpectedProbePacket_andKeepsPolling() {
        var session = polling()
        _ = session.webSocketAttached(now: 0)
        XCTAssertEqual(session.probe(message("x"), now: 0), [.closeWebSocket])
        XCTAssertEqual(session.phase, .polling)
    }

    func test_session_upgrade_timesOut_andKeepsPolling() {
        var session = polling()
        _ = session.webSocketAttached(now: 0)
        XCTAssertEqual(session.tick(now: 10 * second), [.closeWebSocket])
        XCTAssertEqual(session.phase, .polling)
    }

    func test_session_probeSocketClosing_fallsBackToPolling() {
        var session = polling()
        _ = session.webSocketAttached(now: 0)
        XCTAssertEqual(session.webSocketClosed(), [])
        XCTAssertEqual(session.phase, .polling)
    }

    func test_session_webSocket_pingsOverTheSocket_andClosesWithIt() {
        var session = EngineIOSession(settings: settings, webSocket: true, now: 0)
        XCTAssertEqual(session.tick(now: 25 * second), [.send([.ping([])])])
        XCTAssertEqual(session.webSocketClosed(), [.closed(.transportClose)])
    }

    func test_session_webSocket_serverClose_closesSocket() {
        var session = EngineIOSession(settings: settings, webSocket: true, now: 0)
        XCTAssertEqual(session.close(now: 0), [.closeWebSocket, .closed(.serverClose)])
        XCTAssertEqual(session.phase, .finished)
    }

    func test_session_malformedPost_closesWithParseError() {
        var session = polling()
        XCTAssertEqual(session.malformedInput(now: 0), [.closed(.parseError)])
        XCTAssertEqual(session.poll(request: 1, now: 0), [.answerPoll(request: 1, body: body([.close]))])
    }
}
