import Foundation
import ParleyClient

// parley-bot: a ParleyClient example for the chat example. It connects to `chat-server` with
// its nickname as the token, joins a room, answers `!ping` and `!time` there, logs its
// connection events, and rides out server restarts (reconnection is on, without limit).
//
//     swift run chat-server &
//     swift run parley-bot                                   # ws://localhost:8887/parley, "parley-bot" in #general
//     swift run parley-bot ws://localhost:8887/parley robo --room swift
//     swift run parley-bot wss://localhost:8887/parley --tls-ca cert.pem   # chat-server over TLS
//
// Then, in the page (http://localhost:8887/), write `!ping` in the bot's room: it answers
// `pong`; `!time` gets the server machine's time.

let usage = "usage: parley-bot [URL] [NICKNAME] [--room NAME] [--tls-ca FILE]   (default URL ws://localhost:8887/parley, nickname parley-bot, room general; --tls-ca: trust this CA or self-signed certificate for wss://)"

struct Arguments {
    var url = "ws://localhost:8887/parley"
    var nickname = "parley-bot"
    var room = "general"
    var tlsCA: String?
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
        case "--tls-ca":
            guard let file = rest.popFirst() else { fail("--tls-ca needs a PEM file") }
            parsed.tlsCA = file
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
    if positional.count == 2 { parsed.nickname = positional[1] }
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
    case "!time": return "It is " + Date().formatted(.iso8601) + " here."
    default: return nil
    }
}

/// A chat line as the chat server sends it (`message` event).
struct ChatMessage: Decodable, Sendable {
    var room: String
    var author: String
    var text: String
}

/// What the bot sends with `message`: the room and the text.
struct Draft: Encodable, Sendable {
    var room: String
    var text: String
}

/// An acknowledgement whose data does not matter.
struct Ignored: Decodable, Sendable {
    init(from decoder: any Decoder) throws {}
}

/// Creates the bot's client with its handlers; it connects when told to.
func makeBot(_ arguments: Arguments) -> Client {
    var options = Client.Options()
    // The nickname is the chat's token. The key lets the bot take its nickname back from its
    // own stale connection when it reconnects before the server has noticed the old one is gone.
    options.query = ["token": arguments.nickname, "key": UUID().uuidString]
    options.autoConnect = false     // handlers first, so that the first `connect` is seen
    if let ca = arguments.tlsCA { options.tls = TLSConfiguration(trust: .certificateAuthorities(.file(ca))) }
    let client = Client(url: arguments.url, options: options)
    let (room, nickname) = (arguments.room, arguments.nickname)

    client.on(.connect) { [weak client] in
        guard let client else { return }
        log("connected as \(nickname), socket \(client.id ?? "?")")
        // Rooms belong to a connection: join again after every (re)connection.
        Task {
            do {
                _ = try await client.emitWithAck("join", room, as: Ignored.self)
                log("joined #\(room)")
            } catch {
                log("could not join #\(room): \(error)")
            }
        }
    }
    client.on(.disconnect) { reason in
        log("disconnected: \(reason.rawValue)" + (reason.reconnects ? " (will reconnect)" : ""))
    }
    client.on(.connectError) { [weak client] error in
        log("connect_error: \(error.message)")
        // A refusal by the server (nickname taken, too long) is final; a server that is not
        // up yet is retried.
        if client?.isActive == false { exit(1) }
    }
    client.on(.reconnectAttempt) { attempt in log("reconnect attempt \(attempt)") }
    client.on(.reconnect) { attempts in log("reconnected after \(attempts) attempt(s)") }
    client.on(.reconnectError) { error in log("reconnect_error: \(error)") }
    client.on(.reconnectFailed) { log("gave up reconnecting") }

    client.on("message") { [weak client] (message: ChatMessage) in
        guard message.author != nickname, let reply = answer(to: message.text) else { return }
        log("\(message.author) in #\(message.room): \(message.text) -> \(reply)")
        // A plain emit, from this handler: answers go out in the order the commands came.
        do {
            try client?.emit("message", Draft(room: message.room, text: reply))
        } catch {
            log("cannot answer: \(error)")
        }
    }
    return client
}

let arguments = parseArguments(Array(CommandLine.arguments.dropFirst()))
let bot = makeBot(arguments)
log("connecting to \(arguments.url) as \(arguments.nickname), room #\(arguments.room)")
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
