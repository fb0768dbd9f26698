import Foundation
import ParleyClient
import Synchronization
import XCTest

/// `parley-bot` (a child process, public ParleyClient API only) in the chat of `chat-server`:
/// it joins a room, answers `!ping` and `!time`, and comes back after a server restart.
final class BotTests: XCTestCase {
    private struct Line: Decodable, Sendable {
        var room: String
        var author: String
        var text: String
    }

    private struct Draft: Encodable, Sendable {
        var room = "swift"
        var text: String
    }

    private struct Ignored: Decodable, Sendable {
        init(from decoder: any Decoder) throws {}
    }

    /// A person in the chat, on the Swift client: joins `room`, collects the room's lines.
    private func person(_ nickname: String, port: Int, room: String) async throws -> (client: Client, lines: LineBox) {
        var options = Client.Options()
        options.query = ["token": nickname]
        options.autoConnect = false
        let client = Client(url: "ws://127.0.0.1:\(port)/parley", options: options)
        let lines = LineBox()
        client.on("message") { (line: Line) in lines.put("\(line.author): \(line.text)") }
        client.on(.connect) { [weak client] in
            Task { _ = try? await client?.emitWithAck("join", room, as: Ignored.self); lines.put("joined") }
        }
        client.connect()
        addTeardownBlock { client.disconnect() }
        try await lines.next { $0 == "joined" }
        return (client, lines)
    }

    func test_bot_answersPingAndTime_inItsRoom_andSurvivesAServerRestart() async throws {
        let server = try await ChildProcess.start("chat-server", ["--port", "0"], for: self)
        let url = "ws://127.0.0.1:\(server.port)/parley"
        let bot = try await ChildProcess.start("parley-bot", [url, "robo", "--room", "swift"], announcesPort: false, for: self)
        try await bot.line(containing: "joined #swift")

        let (ada, lines) = try await person("ada", port: server.port, room: "swift")
        try ada.emit("message", Draft(text: "!ping"))
        try ada.emit("message", Draft(text: "!time"))
        try ada.emit("message", Draft(text: "!ping"))
        // Answered in the order asked.
        var answers: [String] = []
        for _ in 0..<3 { answers.append(try await lines.next { $0.hasPrefix("robo: ") }) }
        XCTAssertEqual(answers.count, 3)
        XCTAssertEqual(answers[0], "robo: pong")
        XCTAssertTrue(answers[1].hasPrefix("robo: It is "), answers[1])
        XCTAssertEqual(answers[2], "robo: pong")

        // Restart: the bot logs the loss and its reconnection, joins again and answers again.
        let before = bot.lineCount
        server.stop()
        try await bot.line(containing: "disconnected: transport close (will reconnect)", after: before)
        let restarted = try await ChildProcess.start("chat-server", ["--port", String(server.port)], for: self)
        XCTAssertEqual(restarted.port, server.port)
        try await bot.line(containing: "reconnected after", after: before, timeout: .seconds(20))
        try await bot.line(containing: "joined #swift", after: before)
        try await lines.next(timeout: .seconds(20)) { $0 == "joined" }       // ada is back too
        _ = try await ada.emitWithAck("message", Draft(text: "!PING "), as: Ignored.self)
        try await lines.next { $0 == "robo: pong" }
    }

    func test_bot_exits_whenItsNicknameIsTaken() async throws {
        let server = try await ChildProcess.start("chat-server", ["--port", "0"], for: self)
        let url = "ws://127.0.0.1:\(server.port)/parley"
        let first = try await ChildProcess.start("parley-bot", [url, "robo"], announcesPort: false, for: self)
        try await first.line(containing: "joined #general")
        let second = try await ChildProcess.start("parley-bot", [url, "robo"], announcesPort: false, for: self)
        try await second.line(containing: "connect_error: \"robo\" is taken: pick another nickname.")
        second.process.waitUntilExit()
        XCTAssertEqual(second.process.terminationStatus, 1)
    }
}

/// Lines seen by a test client, awaited with a timeout.
final class LineBox: Sendable {
    private let state = Mutex<(lines: [String], taken: Int, waiter: (matches: @Sendable (String) -> Bool, continuation: CheckedContinuation<String, any Error>)?)>(([], 0, nil))

    func put(_ line: String) {
        let resume = state.withLock { state -> (CheckedContinuation<String, any Error>, String)? in
            state.lines.append(line)
            guard let waiter = state.waiter, let index = state.lines.indices.dropFirst(state.taken).first(where: { waiter.matches(state.lines[$0]) }) else { return nil }
            state.taken = index + 1
            state.waiter = nil
            return (waiter.continuation, state.lines[index])
        }
        if let (continuation, line) = resume { continuation.resume(returning: line) }
    }

    /// The next line (after those already taken) that `matches`.
    @discardableResult
    func next(timeout: Duration = .seconds(10), _ matches: @escaping @Sendable (String) -> Bool) async throws -> String {
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.expire()
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let found = state.withLock { state -> String? in
                if let index = state.lines.indices.dropFirst(state.taken).first(where: { matches(state.lines[$0]) }) {
                    state.taken = index + 1
                    return state.lines[index]
                }
                state.waiter = (matches, continuation)
                return nil
            }
            if let found { continuation.resume(returning: found) }
        }
    }

    private func expire() {
        let waiter = state.withLock { state in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.continuation.resume(throwing: EndToEndError("timed out; lines seen: \(state.withLock { $0.lines })"))
    }
}
