import Foundation
import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// ``Server/run()``: serving until cancelled, then closing gracefully; the listening line.
final class ServerRunTests: XCTestCase {
    /// A configuration on port 0 whose logger hands every line to `lines`.
    private func configuration(_ lines: Mailbox<String>) -> Server.Configuration {
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0, path: "/parley")
        configuration.loopCount = 1
        configuration.logger = ParleyLogger(level: .info) { _, message, _ in lines.put(message) }
        return configuration
    }

    func test_run_closesGracefullyAndReturns_whenItsTaskIsCancelled() async throws {
        let lines = Mailbox<String>()
        let io = Server(configuration(lines))
        let returned = Mailbox<Bool>()
        let serving = Task {
            try await io.run()
            returned.put(true)
        }
        let listening = try await lines.expect("the listening line") { $0.hasPrefix("parley: listening on ws://127.0.0.1:") }
        XCTAssertEqual(listening, "parley: listening on ws://127.0.0.1:\(io.port)/parley")
        let client = try await EnvelopeClient.connect(io.url())
        _ = try await client.awaitConnect()

        serving.cancel()
        let close = try await client.closed()
        XCTAssertEqual(close, CloseEvent(code: .goingAway, reason: "server shutting down"))
        _ = try await returned.expect("run() returning after the cancellation")
        try await serving.value
        XCTAssertEqual(io.clientCount, 0)
    }

    func test_run_returnsAtOnceAfterStarting_whenCancelledBeforeItStarted() async throws {
        let lines = Mailbox<String>()
        let io = Server(configuration(lines))
        let serving = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await io.run()
        }
        try await serving.value
        _ = try await lines.expect("the listening line") { $0.contains("listening") }
        // Closed again: nothing listens on the port it had.
        XCTAssertThrowsError(try RawClient(port: io.port).upgrade(target: "/parley"))
    }

    func test_run_throws_whenThePortIsTaken() async throws {
        let first = try startServer()
        var configuration = Server.Configuration(host: "127.0.0.1", port: first.port, path: "/parley")
        configuration.logger = .disabled
        let second = Server(configuration)
        do {
            try await second.run()
            XCTFail("run() returned though the port is taken")
        } catch WebSocketError.bindFailed {}
    }
}
