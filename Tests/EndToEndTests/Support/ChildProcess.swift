import Foundation
import Synchronization
import TestSupport
import XCTest

/// One of the package's executables (`chat-server`, `parley-server`, `parley-bot`) run as a
/// child process on 127.0.0.1, stopped by its PID in the test's teardown, with its standard
/// output watched for lines the test awaits.
final class ChildProcess: Sendable {
    let process: Process
    private let output: OutputWatcher
    /// The port of the first `http://host:PORT` or `ws://host:PORT` line, for servers.
    let port: Int

    private init(process: Process, output: OutputWatcher, port: Int) {
        self.process = process
        self.output = output
        self.port = port
    }

    /// The directory holding the built executables: the test binary's own.
    static var binDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// Starts `name` with `arguments`; for a server (`announcesPort`), waits for its first line
    /// naming a URL with a port (e.g. "chat-server: open http://localhost:40123/").
    static func start(_ name: String, _ arguments: [String], announcesPort: Bool = true,
                      for test: XCTestCase) async throws -> ChildProcess {
        let binary = binDirectory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw EndToEndError("\(binary.path) is not built: run `swift build --build-tests` (or `swift test`)")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        let output = OutputWatcher()
        pipe.fileHandleForReading.drain(onData: { output.append($0) }, onEnd: { output.append(Data()) })
        try process.run()
        test.addTeardownBlock { terminate(process) }
        var port = 0
        if announcesPort {
            let line = try await output.line(timeout: .seconds(20)) { line in
                ["http://", "ws://", "https://", "wss://"].contains { line.contains($0) }
            }
            guard let announced = Self.port(in: line) else { throw EndToEndError("no port in: \(line)") }
            port = announced
        }
        return ChildProcess(process: process, output: output, port: port)
    }

    /// Waits for an output line containing `text` (lines seen earlier count too).
    @discardableResult
    func line(containing text: String, after skipped: Int = 0, timeout: Duration = .seconds(15)) async throws -> String {
        try await output.line(timeout: timeout, after: skipped) { $0.contains(text) }
    }

    /// Lines written so far.
    var lineCount: Int { output.lineCount }

    /// Stops it (SIGTERM: a graceful shutdown, clients get close 1001) and waits for it to exit.
    func stop() {
        terminate(process)
    }

    /// The port of the first `http(s)://host:PORT` or `ws(s)://host:PORT` in `line`.
    private static func port(in line: String) -> Int? {
        for scheme in ["http://", "ws://", "https://", "wss://"] {
            guard let start = line.range(of: scheme)?.upperBound else { continue }
            let rest = line[start...]
            guard let colon = rest.firstIndex(of: ":") else { continue }
            if let port = Int(rest[rest.index(after: colon)...].prefix { $0.isNumber }) { return port }
        }
        return nil
    }
}

/// Collects a child's output as whole lines and wakes those awaiting a line.
final class OutputWatcher: Sendable {
    private struct Waiter {
        let skip: Int
        let matches: @Sendable (String) -> Bool
        let continuation: CheckedContinuation<String, any Error>
    }

    private struct State {
        var partial = ""
        var lines: [String] = []
        var ended = false
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        /// Waits whose time ran out before they were registered.
        var expired: Set<Int> = []
    }

    private let state = Mutex(State())

    var lineCount: Int { state.withLock { $0.lines.count } }

    func append(_ data: Data) {
        let ready = state.withLock { state -> [(CheckedContinuation<String, any Error>, Result<String, any Error>)] in
            if data.isEmpty { state.ended = true } else { state.partial += String(decoding: data, as: UTF8.self) }
            // Only whole lines: a port cut in two by the pipe must not be read as a shorter one.
            while let newline = state.partial.firstIndex(of: "\n") {
                state.lines.append(String(state.partial[..<newline]))
                state.partial = String(state.partial[state.partial.index(after: newline)...])
            }
            var ready: [(CheckedContinuation<String, any Error>, Result<String, any Error>)] = []
            for (key, waiter) in state.waiters {
                if let line = state.lines.dropFirst(waiter.skip).first(where: waiter.matches) {
                    ready.append((waiter.continuation, .success(line)))
                    state.waiters[key] = nil
                } else if state.ended {
                    ready.append((waiter.continuation, .failure(EndToEndError("the process ended; its output:\n" + state.lines.joined(separator: "\n")))))
                    state.waiters[key] = nil
                }
            }
            return ready
        }
        for (continuation, result) in ready { continuation.resume(with: result) }
    }

    /// The first line after the first `skip` ones that `matches`, waiting up to `timeout`.
    func line(timeout: Duration, after skip: Int = 0, _ matches: @escaping @Sendable (String) -> Bool) async throws -> String {
        let key = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.fail(key, EndToEndError("no output line as expected within \(timeout)"))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<String, any Error>? in
                if let line = state.lines.dropFirst(skip).first(where: matches) { return .success(line) }
                if state.expired.remove(key) != nil { return .failure(EndToEndError("no output line as expected within \(timeout)")) }
                if state.ended { return .failure(EndToEndError("the process ended; its output:\n" + state.lines.joined(separator: "\n"))) }
                state.waiters[key] = Waiter(skip: skip, matches: matches, continuation: continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    private func fail(_ key: Int, _ error: any Error) {
        let waiter = state.withLock { state in
            let waiter = state.waiters.removeValue(forKey: key)
            if waiter == nil { state.expired.insert(key) }
            return waiter
        }
        waiter?.continuation.resume(throwing: error)
    }
}
