import Foundation
import ParleyClient

// parley-bot: a ParleyClient example. It joins a room of `parley-server`'s relay, answers
// `!ping` and `!time` in `room` and `broadcast` events, logs its connection events, and rides
// out server restarts (reconnection is on, without limit).
//
//     swift run parley-server &
//     swift run parley-bot                                   # ws://localhost:8887/parley, room "lobby"
//     swift run parley-bot ws://localhost:8887/parley secret --room dev
//
// Then, from another client: emit `room` with {"room":"lobby","text":"!ping"} and the bot
// answers the room with {"room":"lobby","text":"pong","from":"parley-bot"}; emit `broadcast`
// with "!time" and everyone gets the time.

let usage = "usage: parley-bot [URL] [TOKEN] [--room NAME]   (default URL ws://localhost:8887/parley, room lobby)"

struct Arguments {
    var url = "ws://localhost:8887/parley"
    var token: String?
    var room = "lobby"
}

func parseArguments(_ arguments: [String]) -> Arguments {
    var parsed = Arguments()
    var positional: [String] = []
    var rest = arguments[...]
    while let argument = rest.popFirst() {
        switch argument {
        case "--room":
            guard let room = rest.popFirst() else { fail("--room needs a name") }
            parsed.room = room
        case "-h", "--help":
            print(usage)
            exit(0)
        default:
            guard !argument.hasPrefix("--") else { fail("unknown option \(argument)\n\(usage)") }
            positional.append(argument)
        }
    }
    guard positional.count <= 2 else { fail(usage) }
    if let url = positional.first { parsed.url = url }
    if positional.count == 2 { parsed.token = positional[1] }
    return parsed
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("parley-bot: \(message)\n".utf8))
    exit(2)
}

func log(_ message: String) {
    let time = Date().formatted(.iso8601.time(includingFractionalSeconds: false))
    print("[\(time)] \(message)")
    fflush(nil)
}

/// The bot's answer to a message text, or nil when it is not a command.
func answer(to text: String) -> String? {
    switch text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() {
    case "!ping": return "pong"
    case "!time": return Date().formatted(.iso8601)
    default: return nil
    }
}

/// A `room` event of the relay: `{"room":R,...}`, here with the chat's `text`.
struct RoomMessage: Codable, Sendable {
    var room: String
    var text: String?
    var from: String?
}

/// A `broadcast` event's data: a bare string, or an object with a `text`. The answer keeps the shape.
enum BroadcastMessage: Codable, Sendable {
    case string(String)
    case object(text: String)

    private struct Object: Codable { var text: String }

    init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            self = .string(text)
        } else {
            self = .object(text: try Object(from: decoder).text)
        }
    }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .string(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .object(let text):
            try Object(text: text).encode(to: encoder)
        }
    }

    var text: String {
        switch self {
        case .string(let text), .object(let text): return text
        }
    }

    func replying(_ text: String) -> BroadcastMessage {
        switch self {
        case .string: return .string(text)
        case .object: return .object(text: text)
        }
    }
}

/// Creates the bot's client with its handlers; it connects when told to.
func makeBot(_ arguments: Arguments) -> Client {
    var options = Client.Options()
    if let token = arguments.token { options.query = ["token": token] }
    options.autoConnect = false     // handlers first, so that the first `connect` is seen
    let client = Client(url: arguments.url, options: options)
    let room = arguments.room

    client.on(.connect) { [weak client] in
        guard let client else { return }
        log("connected as \(client.id ?? "?") (server pings every \(client.pingInterval.map { "\($0)" } ?? "never"))")
        // Rooms belong to a connection: join again after every (re)connection.
        Task {
            do {
                _ = try await client.emitWithAck("join", room, as: Ignored.self)
                log("joined room \(room)")
            } catch {
                log("could not join \(room): \(error)")
            }
        }
    }
    client.on(.disconnect) { reason in
        log("disconnected: \(reason.rawValue)" + (reason.reconnects ? " (will reconnect)" : ""))
    }
    client.on(.connectError) { error in log("connect_error: \(error.message)") }
    client.on(.reconnectAttempt) { attempt in log("reconnect attempt \(attempt)") }
    client.on(.reconnect) { attempts in log("reconnected after \(attempts) attempt(s)") }
    client.on(.reconnectError) { error in log("reconnect_error: \(error)") }
    client.on(.reconnectFailed) { log("gave up reconnecting") }

    client.on("room") { [weak client] (message: RoomMessage) in
        guard let text = message.text, let reply = answer(to: text) else { return }
        log("\(text) in room \(message.room): \(reply)")
        do {
            try client?.emit("room", RoomMessage(room: message.room, text: reply, from: "parley-bot"))
        } catch {
            log("cannot answer: \(error)")
        }
    }
    client.on("broadcast") { [weak client] (message: BroadcastMessage) in
        guard let reply = answer(to: message.text) else { return }
        log("\(message.text) in broadcast: \(reply)")
        do {
            try client?.emit("broadcast", message.replying(reply))
        } catch {
            log("cannot answer: \(error)")
        }
    }
    return client
}

/// An acknowledgement whose data does not matter.
struct Ignored: Decodable, Sendable {
    init(from decoder: any Decoder) throws {}
}

let arguments = parseArguments(Array(CommandLine.arguments.dropFirst()))
let bot = makeBot(arguments)
log("connecting to \(arguments.url), room \(arguments.room)")
bot.connect()

// Ctrl-C / SIGTERM: leave politely (close 1000), then exit.
signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)
let stopSources = [SIGINT, SIGTERM].map { number in
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler {
        log("stopping")
        bot.disconnect()
        exit(0)
    }
    source.resume()
    return source
}
dispatchMain()
