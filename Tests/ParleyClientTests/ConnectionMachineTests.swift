import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import ParleyClient

/// The connection machine driven by hand: no sockets, a made-up clock, scripted random draws.
final class ConnectionMachineTests: XCTestCase {
    private typealias Machine = ConnectionMachine<ScriptedRandom>

    private let start = ContinuousClock.now
    private let session = Machine.Session(id: "abc", pingInterval: .milliseconds(200), pingTimeout: .milliseconds(100))

    /// Socket.IO's defaults with middle draws: delays 1 s, 2 s, 4 s, 5 s, ...
    private func makeMachine(reconnection: Bool = true, attempts: Int = .max) -> Machine {
        Machine(settings: .init(reconnection: reconnection, reconnectionAttempts: attempts, timeout: .seconds(20)),
                backoff: Backoff(initial: .seconds(1), maximum: .seconds(5), jitter: 0.5), random: ScriptedRandom([0.5]))
    }

    /// A machine connected through its first attempt.
    private func connectedMachine(reconnection: Bool = true, attempts: Int = .max) -> Machine {
        var machine = makeMachine(reconnection: reconnection, attempts: attempts)
        _ = machine.connect()
        _ = machine.accepted(session, generation: machine.generation, now: start)
        return machine
    }

    func test_machine_opensTransportWithTimeout_onConnect() {
        var machine = makeMachine()
        XCTAssertEqual(machine.connect(), [.open(generation: 1), .schedule(.connectTimeout, after: .seconds(20), generation: 1)])
        XCTAssertEqual(machine.phase, .connecting(attempt: 0))
        XCTAssertTrue(machine.isActive)
        XCTAssertEqual(machine.connect(), [], "a second connect while connecting does nothing")
    }

    func test_machine_flushesThenReportsConnect_andWatchesLiveness_onAccepted() {
        var machine = makeMachine()
        _ = machine.connect()
        let actions = machine.accepted(session, generation: 1, now: start)
        XCTAssertEqual(actions, [.flush, .emit(.connect), .schedule(.liveness, after: .milliseconds(300), generation: 1)])
        XCTAssertEqual(machine.session, session)
        XCTAssertTrue(machine.isConnected)
    }

    func test_machine_ignoresNewsFromAnOldGeneration() {
        var machine = makeMachine()
        _ = machine.connect()
        _ = machine.disconnect()
        _ = machine.connect()
        XCTAssertEqual(machine.accepted(session, generation: 1, now: start), [])
        XCTAssertEqual(machine.transportClosed(code: .goingAway, reason: "", generation: 1), [])
        XCTAssertEqual(machine.phase, .connecting(attempt: 0))
    }

    func test_machine_retriesWithBackoff_afterServerShutdown() {
        var machine = connectedMachine()
        let actions = machine.transportClosed(code: .goingAway, reason: "server shutting down", generation: machine.generation)
        XCTAssertEqual(actions, [.close, .failSentAcks, .emit(.disconnect(reason: .transportClose)),
                                 .schedule(.reconnect, after: .seconds(1), generation: machine.generation)])
        XCTAssertEqual(machine.phase, .waiting(attempt: 1))
        XCTAssertNil(machine.session)
        XCTAssertTrue(machine.isActive)
    }

    func test_machine_reportsAttemptsAndReconnect_inSocketIOOrder() {
        var machine = connectedMachine()
        _ = machine.transportClosed(code: .abnormalClosure, reason: "connection lost", generation: machine.generation)
        var actions = machine.timerFired(.reconnect, generation: machine.generation, now: start)
        XCTAssertEqual(actions.first, .emit(.reconnectAttempt(1)))
        XCTAssertEqual(machine.phase, .connecting(attempt: 1))
        // Attempt 1 is refused by the kernel: connect_error, reconnect_error, then wait 2 s.
        let refused = ClientError.transport(.connectFailed(host: "127.0.0.1", port: 1, errno: 111))
        actions = machine.failed(refused, generation: machine.generation)
        XCTAssertEqual(actions, [.close, .emit(.connectError(message: refused.description, data: nil)), .emit(.reconnectError(refused)),
                                 .schedule(.reconnect, after: .seconds(2), generation: machine.generation)])
        XCTAssertEqual(machine.timerFired(.reconnect, generation: machine.generation, now: start).first, .emit(.reconnectAttempt(2)))
        actions = machine.accepted(session, generation: machine.generation, now: start)
        XCTAssertEqual(Array(actions.prefix(3)), [.emit(.reconnect(2)), .flush, .emit(.connect)])
        XCTAssertEqual(machine.backoff.attempts, 0, "a connection resets the backoff")
    }

    func test_machine_reportsReconnectFailed_afterLastAttempt() {
        var machine = connectedMachine(attempts: 2)
        _ = machine.transportClosed(code: .goingAway, reason: "", generation: machine.generation)
        for attempt in 1...2 {
            XCTAssertEqual(machine.timerFired(.reconnect, generation: machine.generation, now: start).first, .emit(.reconnectAttempt(attempt)))
            let actions = machine.failed(.connectTimeout, generation: machine.generation)
            XCTAssertEqual(actions.last, attempt < 2 ? .schedule(.reconnect, after: .seconds(2), generation: machine.generation) : .emit(.reconnectFailed))
        }
        XCTAssertEqual(machine.phase, .idle)
        XCTAssertFalse(machine.isActive)
    }

    func test_machine_doesNotRetry_afterMiddlewareRefusal() {
        var machine = makeMachine()
        _ = machine.connect()
        let data = try? RawJSON(json: #"{"code":42}"#)
        XCTAssertEqual(machine.refused(message: "unauthorized", data: data, generation: 1),
                       [.close, .emit(.connectError(message: "unauthorized", data: data))])
        XCTAssertEqual(machine.phase, .idle)
        XCTAssertEqual(machine.transportClosed(code: .policyViolation, reason: "unauthorized", generation: 1), [], "the close that follows is old news")
    }

    func test_machine_doesNotRetry_afterIOServerDisconnect() {
        var machine = connectedMachine()
        XCTAssertEqual(machine.serverDisconnected(generation: machine.generation),
                       [.close, .failSentAcks, .emit(.disconnect(reason: .ioServerDisconnect))])
        XCTAssertFalse(machine.isActive)
        XCTAssertEqual(machine.connect().first, .open(generation: machine.generation), "the app may connect again")
    }

    func test_machine_doesNotRetry_whenReconnectionIsOff() {
        var machine = connectedMachine(reconnection: false)
        XCTAssertEqual(machine.transportClosed(code: .abnormalClosure, reason: "", generation: machine.generation),
                       [.close, .failSentAcks, .emit(.disconnect(reason: .transportClose))])
        XCTAssertFalse(machine.isActive)
    }

    func test_machine_retriesTheFirstConnection_afterTransportFailure() {
        var machine = makeMachine()
        _ = machine.connect()
        let actions = machine.failed(.connectTimeout, generation: 1)
        XCTAssertEqual(actions, [.close, .emit(.connectError(message: "timeout", data: nil)),
                                 .schedule(.reconnect, after: .seconds(1), generation: machine.generation)])
    }

    func test_machine_givesUp_onInvalidURL() {
        var machine = makeMachine()
        _ = machine.connect()
        let error = ClientError.transport(.invalidURL("scheme http:// is not a WebSocket scheme; use ws:// or wss://"))
        XCTAssertEqual(machine.failed(error, generation: 1), [.close, .emit(.connectError(message: error.description, data: nil))])
        XCTAssertFalse(machine.isActive)
    }

    func test_machine_timesOut_whenConnectDoesNotArrive() {
        var machine = makeMachine()
        _ = machine.connect()
        XCTAssertEqual(machine.timerFired(.connectTimeout, generation: 1, now: start).prefix(2),
                       [.close, .emit(.connectError(message: "timeout", data: nil))])
        XCTAssertEqual(machine.phase, .waiting(attempt: 1))
    }

    func test_machine_reportsTransportError_onProtocolCloseCodes() {
        for code in [CloseCode.protocolError, .invalidPayload, .messageTooBig, .unsupportedData] {
            var machine = connectedMachine()
            XCTAssertEqual(machine.transportClosed(code: code, reason: "", generation: machine.generation)[2],
                           .emit(.disconnect(reason: .transportError)), "close \(code)")
        }
    }

    func test_machine_keepsConnection_whileFramesArriveWithinPingIntervalPlusTimeout() {
        var machine = connectedMachine()
        let generation = machine.generation
        machine.heard(generation: generation, now: start + .milliseconds(250))
        // At 300 ms only 50 ms have passed since the last frame: check again in 250 ms.
        XCTAssertEqual(machine.timerFired(.liveness, generation: generation, now: start + .milliseconds(300)),
                       [.schedule(.liveness, after: .milliseconds(250), generation: generation)])
        XCTAssertTrue(machine.isConnected)
    }

    func test_machine_dropsConnection_afterPingIntervalPlusTimeoutOfSilence() {
        var machine = connectedMachine()
        let actions = machine.timerFired(.liveness, generation: machine.generation, now: start + .milliseconds(300))
        XCTAssertEqual(Array(actions.prefix(4)), [.terminate, .close, .failSentAcks, .emit(.disconnect(reason: .pingTimeout))])
        XCTAssertEqual(machine.phase, .waiting(attempt: 1))
    }

    func test_machine_doesNotWatchLiveness_whenServerDoesNotPing() {
        var machine = makeMachine()
        _ = machine.connect()
        let quiet = Machine.Session(id: "abc", pingInterval: nil, pingTimeout: .seconds(20))
        XCTAssertEqual(machine.accepted(quiet, generation: 1, now: start), [.flush, .emit(.connect)])
    }

    func test_machine_reportsDisconnectOnlyWhenConnected_onAppDisconnect() {
        var machine = connectedMachine()
        XCTAssertEqual(machine.disconnect(), [.close, .failSentAcks, .emit(.disconnect(reason: .ioClientDisconnect))])
        XCTAssertEqual(machine.disconnect(), [])
        _ = machine.connect()
        XCTAssertEqual(machine.disconnect(), [.close])
        XCTAssertFalse(machine.isActive)
    }

    func test_machine_cancelsPendingReconnection_onAppDisconnect() {
        var machine = connectedMachine()
        _ = machine.transportClosed(code: .goingAway, reason: "", generation: machine.generation)
        let waiting = machine.generation
        XCTAssertEqual(machine.disconnect(), [])
        XCTAssertEqual(machine.timerFired(.reconnect, generation: waiting, now: start), [])
        XCTAssertEqual(machine.phase, .idle)
    }
}
