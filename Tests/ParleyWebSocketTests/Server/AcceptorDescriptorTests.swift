import Foundation
import Glibc
import XCTest
@testable import ParleyWebSocket

/// Running out of file descriptors on `accept` must neither spin a core nor stop the server
/// for good: accepting pauses and resumes once descriptors are free again.
///
/// The server runs as a child process (`parley-server --raw-echo`) under `ulimit -n 32`, so
/// the test process itself never runs short of descriptors.
final class AcceptorDescriptorTests: XCTestCase {
    func test_acceptor_outOfDescriptors_pausesWithoutSpinningAndResumes() throws {
        let server = try ChildServer(descriptorLimit: 32)
        defer { server.stop() }

        // More clients than the server has descriptors for; each asks to upgrade.
        let clients = try (0..<40).map { _ in try RawClient(port: server.port, timeout: .seconds(5)) }
        for client in clients { try client.send(RawClient.upgradeRequest()) }
        XCTAssertTrue(server.awaitStderr(containing: "pausing accepts", timeout: .seconds(10)),
                      "the server never reported running out of descriptors")

        // With connections waiting that it cannot accept, the server must idle, not spin:
        // over a 300 ms observation window it may use only a small share of one core.
        let before = server.cpuTime()
        var pause = timespec(tv_sec: 0, tv_nsec: 300_000_000)
        nanosleep(&pause, nil)
        let used = server.cpuTime() - before
        XCTAssertLessThan(used, 0.15, "the server used \(used) s of CPU in 0.3 s: accept is spinning")

        // Free descriptors: the first 30 clients leave. The other 10, still waiting in the
        // backlog, are accepted once the server resumes, and each gets its 101.
        for client in clients.prefix(30) { client.close() }
        for (index, client) in clients.suffix(10).enumerated() {
            let head = client.readHead()
            XCTAssertEqual(head?.status, 101, "client \(30 + index) was not accepted after the pause (eof: \(client.sawEOF), errno \(errno))")
        }
        server.stop()
        XCTAssertEqual(server.exitStatus, 0, "parley-server exited abnormally")
    }
}

/// `parley-server --raw-echo` on port 0 in a child process with a descriptor limit.
private final class ChildServer {
    let process = Process()
    let port: Int
    private let stderr = Pipe()
    private var stderrText = ""

    init(descriptorLimit: Int) throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("parley-server").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("parley-server is not built next to the test bundle (\(binary))")
        }
        let stdout = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // ulimit -n sets the hard limit too, so the server's raise to the hard limit changes nothing.
        process.arguments = ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" --raw-echo --port 0 --loops 1", binary]
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // The server prints its URL once it listens: "parley-server: raw echo on ws://127.0.0.1:PORT/".
        var line = ""
        let handle = stdout.fileHandleForReading
        while !line.contains("\n") {
            let data = handle.availableData
            if data.isEmpty { break }
            line += String(decoding: data, as: UTF8.self)
        }
        guard let range = line.range(of: "127.0.0.1:"), let port = Int(line[range.upperBound...].prefix { $0.isNumber }) else {
            process.terminate()
            throw RawSocketError(description: "parley-server did not report a port: \(line)")
        }
        self.port = port
    }

    /// Reads the child's standard error until `text` appears or the time is up.
    func awaitStderr(containing text: String, timeout: Duration) -> Bool {
        let fd = stderr.fileHandleForReading.fileDescriptor
        let deadline = ContinuousClock.now + timeout
        while !stderrText.contains(text) {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return false }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let millis = Int32(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)
            guard poll(&entry, 1, max(millis, 1)) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { return false }
            stderrText += String(decoding: buffer[..<n], as: UTF8.self)
        }
        return true
    }

    /// User plus system CPU seconds the child has used, from /proc.
    func cpuTime() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let afterName = stat.range(of: ") ") else { return 0 }
        let fields = stat[afterName.upperBound...].split(separator: " ")
        // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Stops the child with SIGTERM (a graceful shutdown) and waits for it.
    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    var exitStatus: Int32 { process.isRunning ? -1 : process.terminationStatus }
}
