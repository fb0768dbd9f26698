import Foundation
import Glibc
import XCTest

// Headless Chromium for the browser tests: launched with its own temporary profile and a
// DevTools port of its choosing (port 0, read back from DevToolsActivePort), driven over the
// DevTools protocol, and stopped by its PID whatever the test's outcome.

/// A headless Chromium this test started.
final class Chromium: @unchecked Sendable {
    // @unchecked: `process` and `profile` are set in init and only read afterwards; `stop()`
    // may run twice (teardown) and is idempotent through Process itself.
    let process: Process
    let profile: URL
    let devTools: DevTools

    /// The browser binary: `$CHROMIUM` (when set, and only if executable), else `chromium` or
    /// `chromium-browser` on `PATH`.
    static var executable: String? {
        if let named = ProcessInfo.processInfo.environment["CHROMIUM"], !named.isEmpty {
            return access(named, X_OK) == 0 ? named : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            for name in ["chromium", "chromium-browser"] {
                let candidate = "\(directory)/\(name)"
                if access(candidate, X_OK) == 0 { return candidate }
            }
        }
        return nil
    }

    /// Starts Chromium, or skips the test when it is not installed (fails instead under `CI`).
    /// The test's teardown stops it.
    /// - Parameter arguments: more command-line switches (e.g. a certificate to trust).
    static func launch(for test: XCTestCase, arguments: [String] = []) async throws -> Chromium {
        guard let executable else {
            let message = "chromium is not installed (apt-get install -y chromium, or set CHROMIUM): browser tests skipped"
            if ProcessInfo.processInfo.environment["CI"] != nil {
                throw EndToEndError(message.replacingOccurrences(of: "browser tests skipped", with: "CI is set, so this fails"))
            }
            throw XCTSkip(message)
        }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("parley-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--remote-debugging-port=0", "--user-data-dir=\(profile.path)", "--window-size=1100,700",
            // Two pages at once must both run: no throttling of pages in the background.
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows", "--disable-extensions", "--mute-audio",
        ] + arguments + ["about:blank"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let stop = { Self.stop(process, profile: profile) }
        do {
            let endpoint = try await devToolsEndpoint(profile: profile, process: process)
            let devTools = try await DevTools.connect(endpoint)
            let chromium = Chromium(process: process, profile: profile, devTools: devTools)
            test.addTeardownBlock { chromium.stop() }
            return chromium
        } catch {
            stop()
            throw error
        }
    }

    private init(process: Process, profile: URL, devTools: DevTools) {
        self.process = process
        self.profile = profile
        self.devTools = devTools
    }

    /// `ws://127.0.0.1:PORT/devtools/browser/ID`, from the profile's DevToolsActivePort, which
    /// Chromium writes once it listens. Polled with a deadline: there is no event to await.
    private static func devToolsEndpoint(profile: URL, process: Process) async throws -> String {
        let file = profile.appendingPathComponent("DevToolsActivePort")
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOf: file, encoding: .utf8) {
                let lines = text.split(separator: "\n")
                if lines.count >= 2, let port = Int(lines[0]) { return "ws://127.0.0.1:\(port)\(lines[1])" }
            }
            guard process.isRunning else { throw EndToEndError("chromium exited (status \(process.terminationStatus)) before listening") }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw EndToEndError("chromium did not write DevToolsActivePort within 20 s")
    }

    /// Closes the DevTools connection, stops the browser (SIGTERM, SIGKILL after 5 s) and
    /// deletes its profile.
    func stop() {
        devTools.close()
        Self.stop(process, profile: profile)
    }

    private static func stop(_ process: Process, profile: URL) {
        terminate(process)
        // Helper processes may still be writing into the profile as they exit: try again briefly.
        for _ in 0..<40 where FileManager.default.fileExists(atPath: profile.path) {
            if (try? FileManager.default.removeItem(at: profile)) != nil { break }
            usleep(25_000)
        }
    }
}

/// Stops a child this test started, by its PID: SIGTERM, then SIGKILL if it is still there
/// after `grace`, and reaps it.
func terminate(_ process: Process, grace: Duration = .seconds(5)) {
    guard process.isRunning else { return }
    kill(process.processIdentifier, SIGTERM)
    let deadline = ContinuousClock.now + grace
    while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
}

/// A browser test's own failure.
struct EndToEndError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
