import Foundation
import ParleyWebSocket
import Synchronization

/// Runs the Autobahn|Testsuite fuzzing server's cases with the ParleyWebSocket client:
/// `AB_URL/getCaseCount`, then every `runCase` echoing each message, then `updateReports`.
/// Environment: `AB_URL` (default ws://127.0.0.1:9001), `AB_AGENT` (default parley).

/// Opens `url`, echoes every message when `echo` is set, and returns the first text message
/// once the server has closed the connection.
func session(_ url: String, echo: Bool) async throws -> String? {
    let firstText = Mutex<String?>(nil)
    let (closed, closedContinuation) = AsyncStream<Void>.makeStream()
    var configuration = WebSocketClient.Configuration()
    // Cases 9.* send messages up to 16 MiB.
    configuration.webSocket.maxFrameSize = 64 << 20
    configuration.webSocket.maxMessageSize = 64 << 20
    configuration.webSocket.maxBufferedBytes = 128 << 20
    _ = try await WebSocketClient.connect(to: url, configuration: configuration) { socket in
        socket.onMessage { socket, message in
            if case .text(let text) = message { firstText.withLock { if $0 == nil { $0 = text } } }
            if echo { socket.send(message) }
        }
        socket.onClose { _, _, _ in closedContinuation.finish() }
    }
    for await _ in closed {}
    return firstText.withLock { $0 }
}

let environment = ProcessInfo.processInfo.environment
let base = environment["AB_URL"] ?? "ws://127.0.0.1:9001"
let agent = environment["AB_AGENT"] ?? "parley"
do {
    guard let countText = try await session("\(base)/getCaseCount", echo: false), let count = Int(countText) else {
        print("parley-autobahn-client: no case count from \(base)")
        exit(1)
    }
    print("parley-autobahn-client: running \(count) cases against \(base)")
    for index in 1...max(count, 1) where count > 0 {
        do {
            _ = try await session("\(base)/runCase?case=\(index)&agent=\(agent)", echo: true)
        } catch {
            print("case \(index): \(error)")
        }
    }
    _ = try await session("\(base)/updateReports?agent=\(agent)", echo: false)
    print("parley-autobahn-client: ran \(count) cases")
} catch {
    print("parley-autobahn-client: \(error)")
    exit(1)
}
