import Foundation
import Glibc
import XCTest
@_spi(IO) @testable import ParleyIO

/// Memory held by idle TLS connections (a measurement for capacity planning; run with
/// `PARLEY_TLS_MEMORY=1 swift test --filter TLSMemoryTests`, alone: the figure is the growth
/// of the process's resident memory, client and server sides averaged).
final class TLSMemoryTests: XCTestCase {
    /// Connections per side; 2 x 400 descriptors fit the usual 1024 limit.
    private let count = 400

    func test_idleConnection_holdsLessThan32KiB_withReleasedBuffers() throws {
        guard ProcessInfo.processInfo.environment["PARLEY_TLS_MEMORY"] != nil else {
            throw XCTSkip("a measurement: set PARLEY_TLS_MEMORY=1 to run it")
        }
        let fixture = try TLSFixture()
        let serverContext = try TLSContext(configuration: fixture.serverConfiguration(), role: .server)
        let clientContext = try TLSContext(configuration: fixture.clientConfiguration(), role: .client)
        var clients: [TLSConnection] = []
        var servers: [TLSConnection] = []
        clients.reserveCapacity(count)
        servers.reserveCapacity(count)
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        let before = residentBytes()
        for _ in 0..<count {
            let pair = try TLSLoopback.socketPair()
            fds += [pair.client, pair.server]
            let client = try TLSConnection(context: clientContext, fd: pair.client, serverName: "localhost")
            let server = try TLSConnection(context: serverContext, fd: pair.server)
            let outcome = TLSLoopback.handshake(client, server)
            XCTAssertEqual(outcome.server, .completed)
            // One message each way: the client also takes the session tickets; then both idle.
            _ = TLSLoopback.transfer([1], from: client, to: server)
            _ = TLSLoopback.transfer([2], from: server, to: client)
            clients.append(client)
            servers.append(server)
        }
        let perConnection = Double(residentBytes() - before) / Double(2 * count)
        print("idle TLS connection: \(Int(perConnection)) bytes resident (\(count) pairs, \(TLSLibrary.version ?? ""), \(servers[0].protocolVersion))")
        XCTAssertLessThan(perConnection, 32 * 1024)
        withExtendedLifetime((clients, servers)) {}
    }

    /// The process's resident memory (/proc/self/statm, in pages).
    private func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
