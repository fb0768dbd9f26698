import ParleyProtocol
import ParleyWebSocket

/// The connection life of a ``Client`` as a pure state machine: it is told what happened
/// (the app called `connect`, the server sent `connect`, the transport closed, a timer fired)
/// and returns what to do. No I/O and no clock of its own: tests drive it with any instants and
/// an injected random source, and the client carries out the actions.
///
/// ```
///            connect()                   server's "connect"
///   idle ─────────────► connecting(n) ─────────────────────► connected
///    ▲                    │      ▲                              │
///    │ refused,           │ fail │ reconnect timer              │ transport lost,
///    │ attempts exhausted ▼      │                              │ ping silence
///    └──────────────── waiting(n) ◄─────────────────────────────┘
/// ```
///
/// Socket.IO's rules: a middleware refusal (`connect_error` from the server) and an
/// `io server disconnect` stop for good, until the app calls `connect()`; a transport failure,
/// a server shutdown (close 1001) and ping silence are retried with backoff;
/// `reconnect_failed` follows the last allowed attempt.
///
/// Every transport and timer belongs to a *generation*; the machine ignores news from an older
/// one (a socket opened after `disconnect()`, a timer of a previous connection).
struct ConnectionMachine<Random: RandomNumberGenerator> {
    /// What the machine needs from ``Client/Options``.
    struct Settings: Sendable, Equatable {
        var reconnection: Bool
        var reconnectionAttempts: Int
        /// For the opening handshake plus the server's `connect`.
        var timeout: Duration
    }

    enum Phase: Equatable {
        /// Not connected, and not trying: only `connect()` starts again.
        case idle
        /// A transport is opening, or open and waiting for the server's `connect`; attempt 0 is
        /// the first connection, 1... are reconnection attempts.
        case connecting(attempt: Int)
        case connected
        /// Waiting for the backoff delay before reconnection attempt `attempt`.
        case waiting(attempt: Int)
    }

    enum Timer: Equatable, Sendable {
        /// The handshake plus `connect` must be done by now.
        case connectTimeout
        /// Time for the next reconnection attempt.
        case reconnect
        /// Check whether the server has been silent too long.
        case liveness
    }

    enum Action: Equatable {
        /// Open a transport for this generation.
        case open(generation: UInt64)
        /// Close the current transport (close 1000), if any, and forget it.
        case close
        /// Drop the current transport without a closing handshake (the server is gone).
        case terminate
        /// Send the offline buffer, oldest first.
        case flush
        /// The acknowledgements of emits sent on the lost transport can never come.
        case failSentAcks
        /// Tell the application.
        case emit(ClientEvent)
        /// Call ``timerFired(_:generation:now:)`` after `delay`, with this generation.
        case schedule(Timer, after: Duration, generation: UInt64)
    }

    /// What the server announced in `connect` (Protocol.md 5.1).
    struct Session: Equatable, Sendable {
        var id: String
        /// nil when the server does not ping (it announced 0).
        var pingInterval: Duration?
        var pingTimeout: Duration?
    }

    let settings: Settings
    private(set) var phase = Phase.idle
    private(set) var generation: UInt64 = 0
    /// Set while connected.
    private(set) var session: Session?
    private(set) var backoff: Backoff
    private var random: Random
    /// When a frame last came from the server, while connected to one that pings.
    /// (A plain value plus ``watching`` rather than an optional: `heard` runs per message, and
    /// an optional of the standard library's resilient `Instant` is handled out of line.)
    private var lastHeard = ContinuousClock.Instant.now
    /// Whether ``lastHeard`` is kept (connected to a server that pings).
    private var watching = false
    /// `pingInterval + pingTimeout`: silence this long means the server is gone.
    private var silenceLimit: Duration?

    init(settings: Settings, backoff: Backoff, random: Random) {
        self.settings = settings
        self.backoff = backoff
        self.random = random
    }

    /// Connected, or trying to be: reconnection will go on without the app's help.
    var isActive: Bool { phase != .idle }
    var isConnected: Bool { phase == .connected }

    // MARK: The application

    /// `connect()`: starts a connection when idle; otherwise one is open or on its way.
    mutating func connect() -> [Action] {
        guard phase == .idle else { return [] }
        backoff.reset()
        return open(attempt: 0)
    }

    /// `disconnect()`: closes and stops trying; `disconnect` is reported only if connected.
    mutating func disconnect() -> [Action] {
        let previous = phase
        toIdle()
        switch previous {
        case .connected: return [.close, .failSentAcks, .emit(.disconnect(reason: .ioClientDisconnect))]
        case .connecting: return [.close]
        case .idle, .waiting: return []
        }
    }

    // MARK: The server and the transport

    /// The server accepted the client (its `connect` envelope).
    mutating func accepted(_ session: Session, generation news: UInt64, now: ContinuousClock.Instant) -> [Action] {
        guard news == generation, case .connecting(let attempt) = phase else { return [] }
        phase = .connected
        self.session = session
        backoff.reset()
        var actions: [Action] = []
        // Socket.IO's order: `reconnect` when the transport is back, then the buffer, then `connect`.
        if attempt > 0 { actions.append(.emit(.reconnect(attempt))) }
        actions += [.flush, .emit(.connect)]
        if let interval = session.pingInterval {
            let limit = interval + (session.pingTimeout ?? .zero)
            silenceLimit = limit
            lastHeard = now
            watching = true
            actions.append(.schedule(.liveness, after: limit, generation: generation))
        }
        return actions
    }

    /// The server refused the client (`connect_error`, from middleware or for the namespace).
    /// Protocol.md 5.2: the same credentials would be refused again, so no retry.
    mutating func refused(message: String, data: RawJSON?, generation news: UInt64) -> [Action] {
        guard news == generation, case .connecting = phase else { return [] }
        toIdle()
        return [.close, .emit(.connectError(message: message, data: data))]
    }

    /// The server disconnected the client on purpose (`disconnect`, `io server disconnect`).
    /// Protocol.md 5.3: the client should not reconnect.
    mutating func serverDisconnected(generation news: UInt64) -> [Action] {
        guard news == generation, phase == .connected else { return [] }
        toIdle()
        return [.close, .failSentAcks, .emit(.disconnect(reason: .ioServerDisconnect))]
    }

    /// The transport could not be opened.
    mutating func failed(_ error: ClientError, generation news: UInt64) -> [Action] {
        guard news == generation, case .connecting(let attempt) = phase else { return [] }
        var actions: [Action] = [.close, .emit(.connectError(message: error.description, data: nil))]
        if attempt > 0 { actions.append(.emit(.reconnectError(error))) }
        if error.isPermanent {
            toIdle()
            return actions
        }
        return actions + retry()
    }

    /// The transport closed (its close code and reason as reported by the WebSocket).
    mutating func transportClosed(code: CloseCode, reason: String, generation news: UInt64) -> [Action] {
        guard news == generation else { return [] }
        switch phase {
        case .connecting:
            return failed(.closedBeforeConnect(code: code, reason: reason), generation: news)
        case .connected:
            switch code {
            case .protocolError, .unsupportedData, .invalidPayload, .messageTooBig: return lost(.transportError)
            default: return lost(.transportClose)  // 1001 server shutdown, 1006 dropped, ...
            }
        case .idle, .waiting:
            return []
        }
    }

    /// A frame (message or ping) arrived: the server is alive.
    mutating func heard(generation news: UInt64, now: ContinuousClock.Instant) {
        if watching, news == generation { lastHeard = now }
    }

    /// A timer scheduled with ``Action/schedule(_:after:generation:)`` fired.
    mutating func timerFired(_ timer: Timer, generation news: UInt64, now: ContinuousClock.Instant) -> [Action] {
        guard news == generation else { return [] }
        switch (timer, phase) {
        case (.connectTimeout, .connecting):
            return failed(.connectTimeout, generation: news)
        case (.reconnect, .waiting(let attempt)):
            return [.emit(.reconnectAttempt(attempt))] + open(attempt: attempt)
        case (.liveness, .connected):
            guard let limit = silenceLimit, watching else { return [] }
            let silence = now - lastHeard
            // Socket.IO: the server is gone when nothing came within pingInterval + pingTimeout.
            guard silence >= limit else { return [.schedule(.liveness, after: limit - silence, generation: generation)] }
            return [.terminate] + lost(.pingTimeout)
        default:
            return []
        }
    }

    // MARK: Transitions

    private mutating func open(attempt: Int) -> [Action] {
        generation &+= 1
        phase = .connecting(attempt: attempt)
        return [.open(generation: generation), .schedule(.connectTimeout, after: settings.timeout, generation: generation)]
    }

    /// An established connection ended without the app or the server asking.
    private mutating func lost(_ reason: Client.DisconnectReason) -> [Action] {
        [.close, .failSentAcks, .emit(.disconnect(reason: reason))] + retry()
    }

    /// Waits for the next reconnection attempt, or gives up.
    private mutating func retry() -> [Action] {
        guard settings.reconnection else {
            toIdle()
            return []
        }
        guard backoff.attempts < settings.reconnectionAttempts else {
            toIdle()
            return [.emit(.reconnectFailed)]
        }
        let delay = backoff.next(using: &random)
        leave(for: .waiting(attempt: backoff.attempts))
        return [.schedule(.reconnect, after: delay, generation: generation)]
    }

    private mutating func toIdle() {
        leave(for: .idle)
        backoff.reset()
    }

    /// Enters `next` under a new generation: whatever the old one started is now stale.
    private mutating func leave(for next: Phase) {
        phase = next
        generation &+= 1
        session = nil
        watching = false
        silenceLimit = nil
    }
}
