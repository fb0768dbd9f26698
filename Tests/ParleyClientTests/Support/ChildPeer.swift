import Foundation
import TestSupport
import XCTest

/// A peer script of Tests/ParleyClientTests/Peers run as a child process: its output lines go to
/// a mailbox; its stdin stays open until the teardown, which closes it and stops the process by
/// its PID. A missing interpreter skips the test, except under `CI`, where it fails.
final class ChildPeer: Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let lines: Mailbox<String>

    private init(lines: Mailbox<String>) {
        self.lines = lines
    }

    /// Skips the test (or fails under `CI`) with `why`.
    static func unavailable(_ why: String) -> any Error {
        if ProcessInfo.processInfo.environment["CI"] != nil { return Failure(description: why) }
        return XCTSkip(why + "; set CI=1 to make this a failure")
    }

    /// `node` when it and Debian's node-ws are installed.
    static func node() throws -> String {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/node"),
              FileManager.default.fileExists(atPath: "/usr/share/nodejs/ws/package.json") else {
            throw unavailable("node and node-ws are not installed (apt-get install -y nodejs node-ws)")
        }
        return "/usr/bin/node"
    }

    /// The Python of `PARLEY_PYTHON` when it has `websockets` (`.ci/run` installs it).
    static func pythonWithWebsockets() throws -> String {
        let why = "PARLEY_PYTHON does not name a Python with websockets (see .ci/run)"
        guard let python = ProcessInfo.processInfo.environment["PARLEY_PYTHON"],
              FileManager.default.isExecutableFile(atPath: python) else { throw unavailable(why) }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: python)
        check.arguments = ["-c", "import websockets"]
        check.standardError = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        guard check.terminationStatus == 0 else { throw unavailable(why) }
        return python
    }

    /// Starts `interpreter script arguments...`; `script` is a file of Tests/ParleyClientTests/Peers.
    static func start(_ interpreter: String, _ script: String, _ arguments: [String], for test: XCTestCase) throws -> ChildPeer {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Peers").appendingPathComponent(script).path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = [path] + arguments
        let output = Pipe()
        let input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        process.standardError = FileHandle.standardError
        let lines = Mailbox<String>()
        lines.collectLines(from: output.fileHandleForReading)
        try process.run()
        test.addTeardownBlock {
            try? input.fileHandleForWriting.close()
            // SIGKILL: the test process may block SIGTERM, and children inherit the mask.
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        return ChildPeer(lines: lines)
    }

    /// The first line, as a port number (the servers print theirs first).
    func port(timeout: Duration = .seconds(20)) async throws -> Int {
        guard let line = await lines.take(timeout: timeout), let port = Int(line) else {
            throw Failure(description: "the peer printed no port")
        }
        return port
    }

    /// The line starting with `RESULT ` or `ERROR `.
    func result(timeout: Duration = .seconds(20)) async throws -> String {
        guard let line = await lines.take(timeout: timeout, where: { $0.hasPrefix("RESULT ") || $0.hasPrefix("ERROR ") }) else {
            throw Failure(description: "no result from the peer within \(timeout)")
        }
        return line
    }
}
