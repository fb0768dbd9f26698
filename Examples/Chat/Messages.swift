import Foundation

// The chat's events, as JSON. Client to server: `join` (a room name, acked with the room's
// recent messages), `message` ({"room","text"}, acked, or refused with an error ack), `typing`
// (a Bool). Server to client: `welcome`, `presence`, `message` (to the room), `activity` (to
// everyone outside the room), `typing`.

/// One chat line, as every member of the room receives it.
struct ChatMessage: Codable, Sendable, Equatable {
    var room: String
    /// The author's nickname; empty for the server's own notices ("ada joined").
    var author: String
    var text: String
    /// Milliseconds since 1970, the server's clock (pages format it in local time).
    var time: Int64
}

/// What a client sends with `message`. It names its room: a message written while offline is
/// sent from the client's buffer as soon as it reconnects, before it has joined a room again.
struct Draft: Codable, Sendable {
    var room: String
    var text: String
}

/// Sent to a client once it is accepted.
struct Welcome: Codable, Sendable {
    var nick: String
    var rooms: [String]
    var limits: Limits
    /// The client continues its session after a lost connection: it is still in its room, and
    /// the events it missed came just before this, in order, each once.
    var recovered: Bool
}

/// Who is online, sent to everyone when someone comes or goes.
///
/// `joined` is absent when a page takes its nickname back from its own stale connection or
/// recovers its session (a blip nobody needs to hear about). After a server restart the
/// server remembers nobody: pages themselves do not announce people they still list as online
/// from before (chat.js, "Presence").
struct Presence: Codable, Sendable {
    /// Online nicknames, sorted.
    var users: [String]
    /// Those of `users` whose connection was lost and who may still come back (their session
    /// is kept for the recovery window); shown as away.
    var away: [String]
    var joined: String?
    var left: String?
}

/// A message was posted in a room the receiver is not in (pages count it as unread there).
struct Activity: Codable, Sendable {
    var room: String
    /// The message's time (milliseconds since 1970).
    var time: Int64
}

/// Someone in the room started or stopped typing.
struct Typing: Codable, Sendable {
    var nick: String
    var typing: Bool
}

/// The answer to `join`: the room and its recent messages, oldest first.
struct Joined: Codable, Sendable {
    var room: String
    var history: [ChatMessage]
}

/// The server's limits on untrusted text; pages show them, the server enforces them.
struct Limits: Codable, Sendable {
    /// 24 characters: fits the presence list and a message's header.
    var nickname = 24
    /// 500 characters: a paragraph; longer text belongs in a paste service.
    var message = 500
}

extension Limits {
    /// Why `nickname` is refused, or nil if it is acceptable (already trimmed).
    func problem(withNickname nickname: String) -> String? {
        if nickname.isEmpty { return "Pick a nickname first." }
        if nickname.count > self.nickname { return "Nicknames are at most \(self.nickname) characters." }
        if nickname.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) {
            return "Nicknames cannot contain control characters."
        }
        return nil
    }

    /// Why `text` is refused as a message, or nil if it is acceptable (already trimmed).
    func problem(withMessage text: String) -> String? {
        if text.isEmpty { return "Empty messages are not sent." }
        if text.count > message { return "Messages are at most \(message) characters (this one has \(text.count))." }
        return nil
    }
}
