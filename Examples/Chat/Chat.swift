import Foundation
import Parley
import Synchronization

/// The chat: nicknames checked by middleware, presence, rooms with recent history, typing.
///
/// Every handler is a few lines: validate the untrusted input, update the state under its lock,
/// emit. Pages render every text with `textContent`, so nothing here needs escaping.
final class Chat: Sendable {
    /// The rooms a page can switch between; everyone starts in the first.
    let rooms: [String]
    let limits = Limits()
    /// Messages kept per room for people who join it later. 50: a screenful of context.
    static let historyLength = 50

    private struct User {
        /// The page's random key (query `key`): the same page coming back after a dropped
        /// connection may take its nickname over from its own stale connection.
        var key: String
        var socket: Socket
    }

    private struct State {
        var users: [String: User] = [:]
        var history: [String: [ChatMessage]] = [:]
    }

    private let state = Mutex(State())
    private let io: Server

    /// Registers the chat's middleware and handlers on `io`.
    init(on io: Server, rooms: [String]) {
        self.io = io
        self.rooms = rooms
        io.use { [self] handshake in try admit(handshake) }
        io.onConnection { [self] socket in connected(socket) }
    }

    // MARK: Nicknames (middleware: a refusal reaches the page as connect_error)

    private func admit(_ handshake: Handshake) throws {
        let nick = (handshake.query["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = limits.problem(withNickname: nick) { throw ConnectError(problem) }
        let key = handshake.query["key"] ?? ""
        let stale: Socket? = try state.withLock { state in
            guard let user = state.users[nick] else { return nil }
            guard !key.isEmpty, user.key == key else { throw ConnectError("\"\(nick)\" is taken: pick another nickname.") }
            return user.socket
        }
        stale?.disconnect()    // the same page, back before its old connection timed out
        handshake.data["nick"] = nick
        handshake.data["key"] = key
    }

    // MARK: Connection

    private func connected(_ socket: Socket) {
        guard let nick = socket.data["nick"] as? String, let key = socket.data["key"] as? String else { return }
        let claimed = state.withLock { state -> Bool in
            guard state.users[nick] == nil else { return false }   // lost a race for the same nickname
            state.users[nick] = User(key: key, socket: socket)
            return true
        }
        guard claimed else { return socket.disconnect() }
        socket.onDisconnect { [self] _ in left(nick, socket) }
        socket.on("join") { [self] (room: String, ack: Ack) in join(socket, room, ack) }
        socket.on("message") { [self] (draft: Draft, ack: Ack) in post(nick, draft, ack) }
        socket.on("typing") { (typing: Bool) in
            for room in socket.rooms where room != socket.id {
                try? socket.to(room).volatile.emit("typing", Typing(nick: nick, typing: typing))
            }
        }
        try? socket.emit("welcome", Welcome(nick: nick, rooms: rooms, limits: limits))
        announcePresence(joined: nick)
    }

    private func left(_ nick: String, _ socket: Socket) {
        let removed = state.withLock { state -> Bool in
            guard state.users[nick]?.socket === socket else { return false }   // taken over already
            state.users[nick] = nil
            return true
        }
        if removed { announcePresence(left: nick) }
    }

    /// Sends everyone the list; under the lock, so that lists go out in the order they changed.
    private func announcePresence(joined: String? = nil, left: String? = nil) {
        state.withLock { state in
            let users = state.users.keys.sorted { $0.lowercased() < $1.lowercased() }
            try? io.emit("presence", Presence(users: users, joined: joined, left: left))
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

    private func post(_ nick: String, _ draft: Draft, _ ack: Ack) {
        let text = draft.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = limits.problem(withMessage: text) { return ack.fail(problem) }
        let room = draft.room
        guard rooms.contains(room) else { return ack.fail("There is no room \"\(room.prefix(40))\".") }
        let message = ChatMessage(room: room, author: nick, text: text, time: Int64(Date().timeIntervalSince1970 * 1000))
        state.withLock { state in
            var history = state.history[room] ?? []
            history.append(message)
            state.history[room] = Array(history.suffix(Self.historyLength))
            try? io.to(room).emit("message", message)
        }
        ack()
    }
}
