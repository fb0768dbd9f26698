import Foundation
import XCTest

/// A python-socketio peer script (a file of the calling test target's `Peers` folder) run as a
/// child process with the Python of `PARLEY_PYTHON` (a virtual environment with
/// `python-socketio[client]` 5.x, `websocket-client`, `aiohttp` and `requests`; `.ci/run` makes
/// it). Without it the test is skipped, except under `CI`, where it fails. The process is
/// killed by its PID in teardown (or by ``stop()``).
///
/// The script speaks in lines on its standard output: `READY [detail]` when it waits for the
/// test, `RESULT <json>` with what it observed, `ERROR <text>` when it failed; any other line
/// is for ``line(startingWith:timeout:)``.
public final class PythonPeer: Sendable {
    private let process: Process
    private let lines: Mailbox<String>
    private let exited: Mailbox<Int32>

    private init(process: Process, lines: Mailbox<String>, exited: Mailbox<Int32>) {
        self.process = process
        self.lines = lines
        self.exited = exited
    }

    /// The Python interpreter to run peers with.
    public static func interpreter() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let python = environment["PARLEY_PYTHON"], FileManager.default.isExecutableFile(atPath: python) {
            return python
        }
        let why = "PARLEY_PYTHON does not name a Python with python-socketio (see .ci/run)"
        if environment["CI"] != nil { throw PeerError(why) }
        throw XCTSkip(why)
    }

    /// Starts `script` with `arguments`; the script is looked up in the `Peers` folder of the
    /// calling file's directory or of one of its parents (the test target's root).
    public static func start(_ script: String, _ arguments: [String], for test: XCTestCase,
                             file: StaticString = #filePath) throws -> PythonPeer {
        let python = try interpreter()
        var directory = URL(fileURLWithPath: "\(file)").deletingLastPathComponent()
        var path: String?
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("Peers").appendingPathComponent(script).path
            if FileManager.default.fileExists(atPath: candidate) {
                path = candidate
                break
            }
            directory = directory.deletingLastPathComponent()
        }
        guard let path else { throw PeerError("no Peers/\(script) above \(file)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        let lines = Mailbox<String>()
        let exited = Mailbox<Int32>()
        lines.collectLines(from: pipe.fileHandleForReading)
        process.terminationHandler = { process in exited.put(process.terminationStatus) }
        try process.run()
        test.addTeardownBlock {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        return PythonPeer(process: process, lines: lines, exited: exited)
    }

    /// Waits for the line `READY` (or `READY detail`).
    /// - Returns: the detail after `READY `, empty when none.
    @discardableResult
    public func ready(timeout: Duration = .seconds(30)) async throws -> String {
        guard let line = await lines.take(timeout: timeout, where: { $0 == "READY" || $0.hasPrefix("READY ") || $0.hasPrefix("ERROR") }),
              line.hasPrefix("READY") else {
            throw PeerError("the peer did not get ready")
        }
        return String(line.dropFirst(6))
    }

    /// The next line starting with `prefix` (an `ERROR` line fails instead).
    public func line(startingWith prefix: String, timeout: Duration = .seconds(10)) async throws -> String {
        guard let line = await lines.take(timeout: timeout, where: { $0.hasPrefix(prefix) || $0.hasPrefix("ERROR") }) else {
            throw PeerError("no line '\(prefix)...' from the peer within \(timeout)")
        }
        guard line.hasPrefix(prefix) else { throw PeerError("peer: \(line)") }
        return line
    }

    /// The JSON object of the peer's `RESULT` line.
    public func result(timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        guard let line = await lines.take(timeout: timeout, where: { $0.hasPrefix("RESULT ") || $0.hasPrefix("ERROR") }) else {
            throw PeerError("no result from the peer within \(timeout)")
        }
        guard line.hasPrefix("RESULT "),
              let object = try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any] else {
            throw PeerError("peer: \(line)")
        }
        return object
    }

    /// Stops the peer (SIGKILL to its PID: a test process may block SIGTERM, and children inherit
    /// the mask) and waits until it has exited.
    public func stop(timeout: Duration = .seconds(10)) async throws {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        guard await exited.take(timeout: timeout) != nil else { throw PeerError("the peer did not exit within \(timeout)") }
    }
}

/// A peer that failed or said something unexpected.
public struct PeerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
