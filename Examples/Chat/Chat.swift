import Foundation
import Parley
import Synchronization

/// The chat: nicknames checked by middleware, presence, rooms with recent history, activity in
/// the other rooms, typing, and pages that come back after a lost connection without missing
/// anything (connection state recovery).
///
/// Every handler is a few lines: validate the untrusted input, update the state under its lock,
/// emit. Handlers `try` their emits: an emit that fails (data that does not encode) is logged by
/// Parley and fails the page's acknowledgement, never silently dropped. Pages render every text
/// with `textContent`, so nothing here needs escaping.
final class Chat: Sendable {
    /// The rooms a page can switch between; everyone starts in the first.
    let rooms: [String]
    let limits = Limits()
    /// Messages kept per room for people who join it later. 50: a screenful of context.
    static let historyLength = 50
    /// How long a nickname stays reserved for the page taking it back from its own stale
    /// connection. 30 s: a reconnection takes at most a few seconds (parley.js backs off up to
    /// 5 s); past this the nickname is free for anyone again.
    static let handoverWindow: Duration = .seconds(30)
    /// Disconnect reasons after which a page may come back and recover its session: the
    /// connection was lost, nobody chose to leave (a page that leaves closes with 1000:
    /// `client namespace disconnect`).
    static let recoverableReasons: Set<DisconnectReason> = [.transportClose, .transportError, .pingTimeout]

    private struct User {
        /// The page's random key (query `key`): the same page coming back after a dropped
        /// connection may take its nickname over from its own stale connection.
        var key: String
        var socket: Socket
        /// Its connection was lost and its page may still recover the session: listed as away,
        /// and announced as gone only if it is not back within the recovery window.
        var lost = false
    }

    private struct State {
        var users: [String: User] = [:]
        /// Nicknames whose page is coming back on a new connection (its key and since when):
        /// neither the stale connection's end nor the new one is announced, since nobody left.
        var handovers: [String: (key: String, since: ContinuousClock.Instant)] = [:]
        var history: [String: [ChatMessage]] = [:]
    }

    private let state = Mutex(State())
    private let io: Server
    /// How long a page whose connection was lost may recover its session: the server's
    /// `maxDisconnectionDuration`, or nil when recovery is off.
    private let recoveryWindow: Duration?

    /// Registers the chat's middleware and handlers on `io`.
    /// - Parameters:
    ///   - rooms: the rooms pages can switch between.
    ///   - recoveryWindow: the `maxDisconnectionDuration` of `io`'s connection state recovery,
    ///     nil when it is off (a lost connection is then announced as a leave at once).
    init(on io: Server, rooms: [String], recoveryWindow: Duration?) {
        self.io = io
        self.rooms = rooms
        self.recoveryWindow = recoveryWindow
        io.use { [self] handshake in try admit(handshake) }
        io.onConnection { [self] socket in try connected(socket) }
    }

    // MARK: Nicknames (middleware: a refusal reaches the page as connect_error)

    private func admit(_ handshake: Handshake) throws {
        let nick = (handshake.query["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = limits.problem(withNickname: nick) { throw ConnectError(problem) }
        let key = handshake.query["key"] ?? ""
        let now = ContinuousClock.now
        let stale: Socket? = try state.withLock { state in
            state.handovers = state.handovers.filter { now - $0.value.since < Self.handoverWindow }
            let holder = state.users[nick]?.key ?? state.handovers[nick]?.key
            guard let holder else { return nil }
            guard !key.isEmpty, holder == key else { throw ConnectError("\"\(nick)\" is taken: pick another nickname.") }
            // The same page, back before its old connection timed out: the nickname passes to
            // the new connection without a "left" and a "joined" for a blip nobody else saw.
            state.handovers[nick] = (key, now)
            return state.users.removeValue(forKey: nick)?.socket
        }
        stale?.disconnect()
        handshake.data["nick"] = nick
        handshake.data["key"] = key
    }

    // MARK: Connection

    /// A page connected: a new one, one back on a new connection (`handovers`), or one that
    /// recovered its session (same socket id, rooms and data; middleware skipped; the events it
    /// missed were replayed to it just before this runs).
    private func connected(_ socket: Socket) throws {
        guard let nick = socket.data["nick"] as? String, let key = socket.data["key"] as? String else { return }
        let claim = state.withLock { state -> (claimed: Bool, returning: Bool) in
            if let user = state.users[nick] {
                // The same page recovering its session, in place of its lost connection (or of
                // the one it replaces, not yet seen as lost). Anyone else lost a race for the name.
                guard socket.recovered, user.key == key else { return (false, false) }
                state.users[nick] = User(key: key, socket: socket)
                return (true, true)
            }
            state.users[nick] = User(key: key, socket: socket)
            let returning = state.handovers[nick]?.key == key
            if returning { state.handovers[nick] = nil }
            return (true, returning)
        }
        guard claim.claimed else { return socket.disconnect() }
        socket.onDisconnect { [self] reason in try disconnected(nick, socket, reason) }
        socket.on("join") { [self] (room: String, ack: Ack) in join(socket, room, ack) }
        socket.on("message") { [self] (draft: Draft, ack: Ack) in try post(nick, draft, socket, ack) }
        socket.on("typing") { (typing: Bool) in
            for room in socket.rooms where room != socket.id {
                try socket.to(room).volatile.emit("typing", Typing(nick: nick, typing: typing))
            }
        }
        // A recovered page is still in its room and has every message: it does not join again.
        try socket.emit("welcome", Welcome(nick: nick, rooms: rooms, limits: limits, recovered: socket.recovered))
        try announcePresence(joined: claim.returning ? nil : nick)
    }

    private func disconnected(_ nick: String, _ socket: Socket, _ reason: DisconnectReason) throws {
        let window = Self.recoverableReasons.contains(reason) ? recoveryWindow : nil
        enum Outcome { case handedOver, away, left, shutDown }
        let outcome = state.withLock { state -> Outcome in
            guard state.users[nick]?.socket === socket else { return .handedOver }
            // The server is stopping and closes every page: nobody left, and the pages still
            // open must not be told so (they come back to the restarted server as they were).
            if reason == .serverShuttingDown {
                state.users[nick] = nil
                return .shutDown
            }
            if window != nil {
                state.users[nick]?.lost = true
                return .away
            }
            state.users[nick] = nil
            return .left
        }
        switch outcome {
        case .handedOver, .shutDown: break
        case .left: try announcePresence(left: nick)
        case .away:
            // Away until the page recovers its session (`connected` replaces the socket) or the
            // window ends.
            try announcePresence()
            guard let window else { return }
            Task { [self] in
                try? await Task.sleep(for: window)
                do { try expire(nick, socket) } catch { print("chat-server: presence not sent: \(error)") }
            }
        }
    }

    /// The recovery window of a lost connection ended: its page did not come back.
    private func expire(_ nick: String, _ socket: Socket) throws {
        let removed = state.withLock { state -> Bool in
            guard let user = state.users[nick], user.socket === socket, user.lost else { return false }
            state.users[nick] = nil
            return true
        }
        if removed { try announcePresence(left: nick) }
    }

    /// Sends everyone the list; under the lock, so that lists go out in the order they changed.
    private func announcePresence(joined: String? = nil, left: String? = nil) throws {
        try state.withLock { state in
            let users = state.users.keys.sorted { $0.lowercased() < $1.lowercased() }
            let away = users.filter { state.users[$0]?.lost == true }
            try io.emit("presence", Presence(users: users, away: away, joined: joined, left: left))
        }
    }

    // MARK: Rooms and messages

    private func join(_ socket: Socket, _ room: String, _ ack: Ack) {
        guard rooms.contains(room) else { return ack.fail("There is no room \"\(room.prefix(40))\".") }
        for current in socket.rooms where current != socket.id && current != room { socket.leave(current) }
        // Under the lock that `post` holds while it records and sends: a message is either in
        // the history read here or delivered live after the join, never both, never neither.
        let history = state.withLock { state in
            // One of the fixed rooms, joined after leaving the others: within every room bound.
            try? socket.join(room)
            return state.history[room] ?? []
        }
        ack(Joined(room: room, history: history))
    }

    private func post(_ nick: String, _ draft: Draft, _ socket: Socket, _ ack: Ack) throws {
        let text = draft.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = limits.problem(withMessage: text) { return ack.fail(problem) }
        let room = draft.room
        guard rooms.contains(room) else { return ack.fail("There is no room \"\(room.prefix(40))\".") }
        let message = ChatMessage(room: room, author: nick, text: text, time: Int64(Date().timeIntervalSince1970 * 1000))
        try state.withLock { state in
            var history = state.history[room] ?? []
            history.append(message)
            state.history[room] = Array(history.suffix(Self.historyLength))
            try io.to(room).emit("message", message)
        }
        // Everyone elsewhere learns that the room has something new (their unread counts).
        try io.except(room).emit("activity", Activity(room: room, time: message.time))
        ack()
    }
}
