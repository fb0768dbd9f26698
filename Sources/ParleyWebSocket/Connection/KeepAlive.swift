/// Ping/pong liveness as a pure state machine (RFC 6455 5.5.2, 5.5.3).
///
/// The connection calls ``pingDue()`` every `pingInterval` and ``deadlineDue()`` `pingTimeout`
/// after each ping; any frame from the peer (a pong, or data queued ahead of it) proves it is
/// alive. Tests drive it directly, without a clock.
struct KeepAlive: Sendable, Equatable {
    enum Action: Sendable, Equatable {
        /// Send a ping and check again after `pingTimeout`.
        case sendPing
        /// The peer answered in time: schedule the next ping.
        case scheduleNextPing
        /// Nothing came back within `pingTimeout`: drop the connection.
        case timedOut
    }

    /// What the connection's ping deadline is for now.
    enum Phase: Sendable, Equatable {
        /// The next ping (``pingDue()``).
        case waitingToPing
        /// The answer to the ping sent (``deadlineDue()``).
        case awaitingAnswer
    }

    private var heardFromPeer = true
    private(set) var phase = Phase.waitingToPing

    /// Any frame arrived from the peer.
    mutating func frameReceived() { heardFromPeer = true }

    /// The ping interval elapsed.
    mutating func pingDue() -> Action {
        heardFromPeer = false
        phase = .awaitingAnswer
        return .sendPing
    }

    /// `pingTimeout` elapsed since the last ping.
    mutating func deadlineDue() -> Action {
        phase = .waitingToPing
        return heardFromPeer ? .scheduleNextPing : .timedOut
    }
}
