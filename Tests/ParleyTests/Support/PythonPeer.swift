import Foundation
import Synchronization
import TestSupport
import XCTest

/// A python-socketio peer script (Tests/ParleyTests/Peers) run as a child process with the
/// Python of `PARLEY_PYTHON` (a virtual environment with `python-socketio[client]` 5.x,
/// `websocket-client`, `aiohttp` and `requests`; `.ci/run` makes it). Without it the test is
/// skipped, except under `CI`, where it fails. The process is stopped by its PID in teardown.
final class PythonPeer: Sendable {
    private let process: Process
    private let lines: Mailbox<String>

    private init(process: Process, lines: Mailbox<String>) {
        self.process = process
        self.lines = lines
    }

    /// The Python interpreter to run peers with.
    static func interpreter() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let python = environment["PARLEY_PYTHON"], FileManager.default.isExecutableFile(atPath: python) {
            return python
        }
        let why = "PARLEY_PYTHON does not name a Python with python-socketio (see .ci/run)"
        if environment["CI"] != nil { throw PeerError(why) }
        throw XCTSkip(why)
    }

    /// Starts `script` (a file of Tests/ParleyTests/Peers) with `arguments`.
    static func start(_ script: String, _ arguments: [String], for test: XCTestCase) throws -> PythonPeer {
        let python = try interpreter()
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Peers").appendingPathComponent(script).path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        let lines = Mailbox<String>()
        let partial = Mutex<[UInt8]>([])
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                lines.finish()
                return
            }
            let complete = partial.withLock { buffer -> [String] in
                buffer += data
                var found: [String] = []
                while let newline = buffer.firstIndex(of: 0x0A) {
                    found.append(String(decoding: buffer[..<newline], as: UTF8.self))
                    buffer.removeSubrange(...newline)
                }
                return found
            }
            for line in complete { lines.put(line) }
        }
        try process.run()
        test.addTeardownBlock {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        }
        return PythonPeer(process: process, lines: lines)
    }

    /// Waits for the line `READY`.
    func ready(timeout: Duration = .seconds(30)) async throws {
        guard await lines.take(timeout: timeout, where: { $0 == "READY" || $0.hasPrefix("ERROR") }) == "READY" else {
            throw PeerError("the peer did not get ready")
        }
    }

    /// The JSON object of the peer's `RESULT` line.
    func result(timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        guard let line = await lines.take(timeout: timeout, where: { $0.hasPrefix("RESULT ") || $0.hasPrefix("ERROR") }) else {
            throw PeerError("no result from the peer within \(timeout)")
        }
        guard line.hasPrefix("RESULT "),
              let object = try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any] else {
            throw PeerError("peer: \(line)")
        }
        return object
    }
}

struct PeerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
