import ParleyProtocol

/// One Engine.IO v4 session on the server, as a pure state machine: told what happened (a
/// poll arrived, a body was posted, a WebSocket attached, the app sent packets, time passed)
/// and returning what to do. No I/O and no clock of its own: instants are nanoseconds on any
/// monotonic clock the caller chooses, so tests drive it with made-up times.
///
/// ```
///              2probe (WebSocket)         5 (WebSocket)
///   polling ─────────────────────► probing ───────────► webSocket
///      ▲                              │ probe socket closed,     │
///      └──────────────────────────────┘ upgrade timeout          │
///   any phase ── close(), ping timeout, transport gone ──► closed (after the last poll: finished)
/// ```
///
/// Engine.IO v4 rules: the server pings (`2`) every `pingInterval` and expects a pong (`3`)
/// within `pingTimeout`; a poll is held until a packet is due (a ping at the latest); during an
/// upgrade every poll is answered at once (with `6` when nothing is queued) so the client can
/// pause polling and send `5`; a second poll while one is held is refused (400) and closes the
/// session, as the reference server does. Packets queued for polling are bounded in bytes.
struct EngineIOSession: Sendable {
    /// What the session needs from the server's configuration.
    struct Settings: Sendable, Equatable {
        var pingInterval: Duration
        var pingTimeout: Duration
        /// The most bytes queued for polls; beyond, the session closes (the client does not read).
        var maxQueuedBytes: Int
        /// How long a probed WebSocket has to send `5`. 10 s, Engine.IO's `upgradeTimeout`.
        var upgradeTimeout: Duration = .seconds(10)
        /// How long a closed polling session waits for a last poll to collect its close packet.
        /// 2 s: a polling client comes back at once; one that does not will time out alone.
        var closeLinger: Duration = .seconds(2)
    }

    enum Phase: Equatable {
        /// HTTP long-polling.
        case polling
        /// A WebSocket is attached and probing; polling still carries packets.
        case probing
        /// The WebSocket carries everything.
        case webSocket
        /// Closed for the app; a last poll may still collect the queue and `1`.
        case closing
        /// Over: the session can be forgotten.
        case finished
    }

    /// Why a session ended, in Socket.IO's words.
    enum CloseReason: String, Sendable, Equatable {
        case transportClose = "transport close"
        case transportError = "transport error"
        case pingTimeout = "ping timeout"
        case parseError = "parse error"
        case serverClose = "server close"
        case queueFull = "send queue full"
    }

    enum Action: Sendable, Equatable {
        /// Answer the held poll `request` with `200` and this payload body.
        case answerPoll(request: UInt64, body: [UInt8])
        /// Answer poll `request` with `400` and the Engine.IO error body for code 3 (Bad request).
        case refusePoll(request: UInt64)
        /// Write these packets on the WebSocket, one frame each.
        case send([EngineIOPacket])
        /// Close the WebSocket (the probe failed, or the session ended).
        case closeWebSocket
        /// Messages for the Socket.IO layer, in order.
        case deliver([EngineIOPacket])
        /// The session ended for the app (once).
        case closed(CloseReason)
    }

    /// The settings, shared by every session of an endpoint (one reference, not 72 bytes each).
    private let sharedSettings: SharedSettings
    var settings: Settings { sharedSettings.value }

    /// ``Settings`` held once for many sessions.
    final class SharedSettings: Sendable {
        let value: Settings
        init(_ value: Settings) { self.value = value }
    }
    private(set) var phase: Phase
    private var queue: [EngineIOPacket] = []
    private(set) var queuedBytes = 0
    // The poll held and the deadlines, as plain words with `UInt64.max` for none: an optional
    // word takes two (every idle session holds these five).
    private var heldPollWord = UInt64.max
    private var pingDueWord = UInt64.max
    private var pongDeadlineWord = UInt64.max
    private var upgradeDeadlineWord = UInt64.max
    private var lingerDeadlineWord = UInt64.max

    /// The poll held open, if any.
    private(set) var heldPoll: UInt64? {
        get { Self.optional(heldPollWord) }
        set { heldPollWord = newValue ?? .max }
    }
    private var pingDue: UInt64? {
        get { Self.optional(pingDueWord) }
        set { pingDueWord = newValue ?? .max }
    }
    private var pongDeadline: UInt64? {
        get { Self.optional(pongDeadlineWord) }
        set { pongDeadlineWord = newValue ?? .max }
    }
    private var upgradeDeadline: UInt64? {
        get { Self.optional(upgradeDeadlineWord) }
        set { upgradeDeadlineWord = newValue ?? .max }
    }
    private var lingerDeadline: UInt64? {
        get { Self.optional(lingerDeadlineWord) }
        set { lingerDeadlineWord = newValue ?? .max }
    }

    @inline(__always)
    private static func optional(_ word: UInt64) -> UInt64? { word == .max ? nil : word }

    /// - Parameters:
    ///   - settings: timing and bounds.
    ///   - webSocket: true for a session opened on a WebSocket (no polling, no upgrade).
    ///   - now: the time of the handshake; the first ping is due `pingInterval` later.
    init(settings: Settings, webSocket: Bool, now: UInt64) {
        self.init(settings: SharedSettings(settings), webSocket: webSocket, now: now)
    }

    /// A session with settings shared with others (see the other initializer).
    init(settings: SharedSettings, webSocket: Bool, now: UInt64) {
        sharedSettings = settings
        let settings = settings.value
        phase = webSocket ? .webSocket : .polling
        pingDue = now + settings.pingInterval.nanosecondCount
    }

    /// The open packet of a handshake: `0{"sid":...,"upgrades":[...],"pingInterval":...,...}`.
    static func openPacket(sid: String, upgrades: Bool, settings: Settings, maxPayload: Int) -> EngineIOPacket {
        var json: [UInt8] = Array(#"{"sid":"#.utf8)
        EnvelopeCodec.appendJSONString(sid, to: &json)
        json += Array(#","upgrades":\#(upgrades ? #"["websocket"]"# : "[]"),"pingInterval":\#(settings.pingInterval.milliseconds),"pingTimeout":\#(settings.pingTimeout.milliseconds),"maxPayload":\#(maxPayload)}"#.utf8)
        return .open(RawJSON(unchecked: json))
    }

    /// When ``tick(now:)`` must be called next, if ever.
    var nextDeadline: UInt64? {
        [pingDue, pongDeadline, upgradeDeadline, lingerDeadline].compactMap { $0 }.min()
    }

    /// Whether the app may still send (not closing or finished).
    var isOpen: Bool { phase != .closing && phase != .finished }

    // MARK: Polling

    /// A `GET` poll arrived.
    mutating func poll(request: UInt64, now: UInt64) -> [Action] {
        switch phase {
        case .webSocket, .finished:
            return [.refusePoll(request: request)]
        case .polling, .probing, .closing:
            if let held = heldPoll {
                // engine.io: overlapping polls are a client error; the session is closed.
                heldPoll = nil
                var actions: [Action] = [.refusePoll(request: request)]
                queue.append(.close)
                actions.append(.answerPoll(request: held, body: takeQueue()))
                return actions + end(.transportError)
            }
            if phase == .closing {
                queue.append(.close)
                let body = takeQueue()
                phase = .finished
                lingerDeadline = nil
                return [.answerPoll(request: request, body: body)]
            }
            if !queue.isEmpty {
                return [.answerPoll(request: request, body: takeQueue())]
            }
            if phase == .probing {
                return [.answerPoll(request: request, body: EngineIOCodec.encode(.noop))]
            }
            heldPoll = request
            return []
        }
    }

    /// The client went away while poll `request` was held.
    mutating func pollAborted(request: UInt64) -> [Action] {
        guard heldPoll == request else { return [] }
        heldPoll = nil
        guard isOpen else {
            phase = .finished
            return []
        }
        return end(.transportClose)
    }

    /// Packets posted (a `POST` body), or read from the WebSocket.
    mutating func received(_ packets: [EngineIOPacket], now: UInt64) -> [Action] {
        guard isOpen else { return [] }
        var messages: [EngineIOPacket] = []
        var actions: [Action] = []
        for packet in packets {
            switch packet {
            case .message, .binary:
                messages.append(packet)
            case .pong:
                pongDeadline = nil
                pingDue = now + settings.pingInterval.nanosecondCount
            case .close:
                if !messages.isEmpty { actions.append(.deliver(messages)) }
                return actions + end(.transportClose)
            case .open, .ping, .upgrade, .noop:
                // v4 clients never ping; open, upgrade and noop only come from the server or
                // belong to the probing WebSocket. Ignored, as the reference server does.
                continue
            }
        }
        if !messages.isEmpty { actions.append(.deliver(messages)) }
        return actions
    }

    /// A posted body could not be read: the session is closed (`parse error`).
    mutating func malformedInput(now: UInt64) -> [Action] {
        guard isOpen else { return [] }
        return end(.parseError, lingerFrom: now)
    }

    // MARK: Upgrade

    /// A WebSocket with this session's id connected: it may probe. Returns nil when the session
    /// cannot be upgraded (already on a WebSocket, probing, or closed): refuse the upgrade.
    mutating func webSocketAttached(now: UInt64) -> [Action]? {
        guard phase == .polling else { return nil }
        phase = .probing
        upgradeDeadline = now + settings.upgradeTimeout.nanosecondCount
        // A held poll returns now, so the client can pause polling once the probe answers.
        guard let held = heldPoll else { return [] }
        heldPoll = nil
        return [.answerPoll(request: held, body: queue.isEmpty ? EngineIOCodec.encode(.noop) : takeQueue())]
    }

    /// A packet on the probing WebSocket.
    mutating func probe(_ packet: EngineIOPacket, now: UInt64) -> [Action] {
        guard phase == .probing else { return [] }
        switch packet {
        case .ping(let data) where data.elementsEqual("probe".utf8):
            var actions: [Action] = [.send([.pong(data)])]
            if let held = heldPoll {
                heldPoll = nil
                actions.append(.answerPoll(request: held, body: queue.isEmpty ? EngineIOCodec.encode(.noop) : takeQueue()))
            }
            return actions
        case .upgrade:
            phase = .webSocket
            upgradeDeadline = nil
            var actions: [Action] = []
            if let held = heldPoll {
                heldPoll = nil
                actions.append(.answerPoll(request: held, body: EngineIOCodec.encode(.noop)))
            }
            if !queue.isEmpty {
                let packets = queue
                queue = []
                queuedBytes = 0
                actions.append(.send(packets))
            }
            return actions
        default:
            // engine.io: anything else on a probing socket fails the upgrade; polling goes on.
            return failProbe()
        }
    }

    /// The WebSocket closed.
    mutating func webSocketClosed() -> [Action] {
        switch phase {
        case .probing:
            phase = .polling
            upgradeDeadline = nil
            return []
        case .webSocket:
            return end(.transportClose, socketOpen: false)
        case .closing:
            phase = .finished
            return []
        case .polling, .finished:
            return []
        }
    }

    private mutating func failProbe() -> [Action] {
        phase = .polling
        upgradeDeadline = nil
        return [.closeWebSocket]
    }

    // MARK: Output

    /// The app sends packets. `volatile` packets are dropped unless they can be written now
    /// (a WebSocket, or a held poll).
    mutating func send(_ packets: [EngineIOPacket], volatile: Bool = false) -> [Action] {
        guard isOpen else { return [] }
        if phase == .webSocket { return [.send(packets)] }
        if volatile && heldPoll == nil { return [] }
        for packet in packets {
            queuedBytes += Self.size(of: packet)
            queue.append(packet)
        }
        guard queuedBytes <= settings.maxQueuedBytes else {
            queue = []
            queuedBytes = 0
            return end(.queueFull)
        }
        return flush()
    }

    /// Answers the held poll with the queue, if both exist.
    private mutating func flush() -> [Action] {
        guard let held = heldPoll, !queue.isEmpty else { return [] }
        heldPoll = nil
        return [.answerPoll(request: held, body: takeQueue())]
    }

    private mutating func takeQueue() -> [UInt8] {
        let body = EngineIOCodec.encodePayload(queue)
        queue = []
        queuedBytes = 0
        return body
    }

    private static func size(of packet: EngineIOPacket) -> Int {
        switch packet {
        case .message(let bytes), .ping(let bytes), .pong(let bytes): return bytes.count + 2
        case .binary(let bytes): return bytes.count * 4 / 3 + 6
        case .open(let json): return json.bytes.count + 2
        case .close, .upgrade, .noop: return 2
        }
    }

    // MARK: Closing and time

    /// The server closes the session.
    mutating func close(now: UInt64) -> [Action] {
        guard isOpen else { return [] }
        return end(.serverClose, lingerFrom: now)
    }

    /// Time passed: sends a due ping, or ends the session after a missed pong, a stalled
    /// upgrade or a lingering close.
    mutating func tick(now: UInt64) -> [Action] {
        var actions: [Action] = []
        if let deadline = lingerDeadline, now >= deadline {
            lingerDeadline = nil
            if let held = heldPoll { heldPoll = nil; actions.append(.answerPoll(request: held, body: EngineIOCodec.encode(.close))) }
            phase = .finished
            return actions
        }
        guard isOpen else { return actions }
        if let deadline = upgradeDeadline, now >= deadline {
            actions += failProbe()
        }
        if let deadline = pongDeadline, now >= deadline {
            return actions + end(.pingTimeout)
        }
        if let due = pingDue, now >= due {
            pingDue = nil
            pongDeadline = now + settings.pingTimeout.nanosecondCount
            actions += send([.ping([])])
        }
        return actions
    }

    /// Ends the session for the app. With `lingerFrom` (now), a polling session keeps its queue
    /// (plus `1`) for one last poll, up to `closeLinger`; otherwise everything goes at once.
    /// `socketOpen` is false when the WebSocket is already gone.
    private mutating func end(_ reason: CloseReason, lingerFrom now: UInt64? = nil, socketOpen: Bool = true) -> [Action] {
        var actions: [Action] = []
        pingDue = nil
        pongDeadline = nil
        upgradeDeadline = nil
        if socketOpen && (phase == .webSocket || phase == .probing) { actions.append(.closeWebSocket) }
        if let held = heldPoll {
            heldPoll = nil
            queue.append(.close)
            actions.append(.answerPoll(request: held, body: takeQueue()))
            phase = .finished
        } else if let now, phase == .polling || phase == .probing {
            phase = .closing
            lingerDeadline = now + settings.closeLinger.nanosecondCount
        } else {
            queue = []
            queuedBytes = 0
            phase = .finished
        }
        actions.append(.closed(reason))
        return actions
    }
}

extension Duration {
    /// Whole nanoseconds (negative durations count as 0).
    var nanosecondCount: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Whole milliseconds, as Engine.IO's open packet writes them.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
