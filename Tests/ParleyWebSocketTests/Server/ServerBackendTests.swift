import Foundation
import Synchronization
import XCTest
@testable import ParleyWebSocket

/// The server on each I/O backend: with poll one loop accepts for all and hands connections to
/// the loops in turn; with epoll every loop accepts for itself. Either way every connection is
/// served on one loop, and large messages cross the socket buffers both ways.
final class ServerBackendTests: XCTestCase {
    private func assertServes(backend: IOBackend, file: StaticString = #filePath, line: UInt = #line) async throws {
        let loops = Mutex<[ObjectIdentifier]>([])
        let server = try startEchoServer(configure: {
            $0.backend = backend
            $0.loopCount = 2
        }) { socket, _ in
            XCTAssertEqual(socket.loop.backend, backend, file: file, line: line)
            XCTAssertTrue(socket.loop.inEventLoop, "onConnection runs on the connection's loop", file: file, line: line)
            loops.withLock { $0.append(ObjectIdentifier(socket.loop)) }
        }
        var clients: [ClientProbe] = []
        for index in 0..<4 {
            let client = try await connectClient(to: server.url())
            clients.append(client)
            // 256 KiB: more than a socket buffer, so writes block and resume on both sides.
            let payload = [UInt8](repeating: UInt8(index), count: 256 * 1024)
            client.socket.send(binary: payload)
            let echo = try await client.messages.expectNext("the echo of client \(index)", file: file, line: line)
            XCTAssertEqual(echo, .binary(payload), file: file, line: line)
        }
        let used = loops.withLock { $0 }
        XCTAssertEqual(used.count, 4, file: file, line: line)
        if backend == .poll {
            // Handed out in turn: two connections on each loop.
            XCTAssertEqual(Set(used).count, 2, "connections spread over both loops", file: file, line: line)
        }
        for client in clients { client.socket.close() }
    }

    func test_server_acceptsAndEchoes_withPollBackend_handingConnectionsToEveryLoop() async throws {
        try await assertServes(backend: .poll)
    }

    func test_server_acceptsAndEchoes_withEpollBackend() async throws {
        try await assertServes(backend: .epoll)
    }
}
