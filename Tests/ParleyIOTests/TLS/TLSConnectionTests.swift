import Glibc
import XCTest
@_spi(IO) @testable import ParleyIO

/// The engine against itself over real loopback sockets: handshake, data, close.
final class TLSConnectionTests: XCTestCase {
    func test_handshake_completesWithTLS13AndALPN_betweenClientAndServer() throws {
        let fixture = try TLSFixture()
        var server = fixture.serverConfiguration()
        server.applicationProtocols = ["http/1.1"]
        var client = fixture.clientConfiguration()
        client.applicationProtocols = ["h2", "http/1.1"]
        let (clientTLS, serverTLS) = try fixture.pair(server: server, client: client)
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        let outcome = TLSLoopback.handshake(clientTLS, serverTLS)
        XCTAssertEqual(outcome.client, .completed, "\(outcome.client)")
        XCTAssertEqual(outcome.server, .completed, "\(outcome.server)")
        XCTAssertTrue(clientTLS.isEstablished && serverTLS.isEstablished)
        XCTAssertEqual(clientTLS.protocolVersion, "TLSv1.3")
        XCTAssertEqual(clientTLS.applicationProtocol, "http/1.1")
        XCTAssertEqual(serverTLS.applicationProtocol, "http/1.1")
    }

    func test_handshake_goesOnWithoutALPN_whenNoProtocolIsShared() throws {
        let fixture = try TLSFixture()
        var server = fixture.serverConfiguration()
        server.applicationProtocols = ["http/1.1"]
        var client = fixture.clientConfiguration()
        client.applicationProtocols = ["redis"]
        let (clientTLS, serverTLS) = try fixture.pair(server: server, client: client)
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        let outcome = TLSLoopback.handshake(clientTLS, serverTLS)
        XCTAssertEqual(outcome.client, .completed, "\(outcome.client)")
        XCTAssertNil(clientTLS.applicationProtocol)
    }

    func test_readAndWrite_carryBytesBothWays_afterHandshake() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair()
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        XCTAssertEqual(TLSLoopback.handshake(clientTLS, serverTLS).server, .completed)
        XCTAssertEqual(TLSLoopback.transfer(Array("hello server".utf8), from: clientTLS, to: serverTLS), Array("hello server".utf8))
        XCTAssertEqual(TLSLoopback.transfer(Array("hello client".utf8), from: serverTLS, to: clientTLS), Array("hello client".utf8))
    }

    func test_readAndWrite_driveTheHandshake_whenCalledFirst() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair()
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        // No explicit handshake: the write and the read run it.
        XCTAssertEqual(TLSLoopback.transfer(Array("early".utf8), from: clientTLS, to: serverTLS), Array("early".utf8))
        XCTAssertTrue(clientTLS.isEstablished && serverTLS.isEstablished)
    }

    func test_transfer_carriesOneMebibyteBothWays_intact() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair()
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        XCTAssertEqual(TLSLoopback.handshake(clientTLS, serverTLS).server, .completed)
        let upload = TLSLoopback.pattern(1 << 20)
        let download = Array(upload.reversed())
        XCTAssertTrue(TLSLoopback.transfer(upload, from: clientTLS, to: serverTLS) == upload, "upload corrupted")
        XCTAssertTrue(TLSLoopback.transfer(download, from: serverTLS, to: clientTLS) == download, "download corrupted")
    }

    func test_read_returnsClosed_afterPeerSendsCloseNotify() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair()
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        XCTAssertEqual(TLSLoopback.handshake(clientTLS, serverTLS).server, .completed)
        XCTAssertEqual(TLSLoopback.transfer(Array("last words".utf8), from: clientTLS, to: serverTLS), Array("last words".utf8))
        XCTAssertEqual(clientTLS.shutdown(), .closed)
        let read = TLSLoopback.read(serverTLS, count: 1)
        XCTAssertEqual(read.end, .closed)
        XCTAssertTrue(read.bytes.isEmpty)
        // The server answers with its own close_notify; the client reads the end too.
        XCTAssertEqual(serverTLS.shutdown(), .closed)
        XCTAssertEqual(TLSLoopback.read(clientTLS, count: 1).end, .closed)
        // And keeps saying so.
        var buffer = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(buffer.withUnsafeMutableBytes { serverTLS.read(into: $0) }, .closed)
    }

    func test_read_returnsClosed_whenPeerClosesTCPWithoutCloseNotify() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair()
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        XCTAssertEqual(TLSLoopback.handshake(clientTLS, serverTLS).server, .completed)
        // A FIN, no close_notify (closing with unread session tickets would send a reset).
        shutdownWrite(clientTLS.fd)
        XCTAssertEqual(TLSLoopback.read(serverTLS, count: 1).end, .closed)
    }

    func test_read_failsWithTheSystemError_whenPeerResetsTheConnection() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair()
        defer { serverTLS.closeSocket() }
        XCTAssertEqual(TLSLoopback.handshake(clientTLS, serverTLS).server, .completed)
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(clientTLS.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        clientTLS.closeSocket()
        let end = TLSLoopback.read(serverTLS, count: 1).end
        XCTAssertEqual(end, .failed(.connectionFailed))
        XCTAssertTrue(end?.error?.message.contains("reset") == true, "\(String(describing: end))")
    }

    func test_write_afterShutdown_fails() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair()
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        XCTAssertEqual(TLSLoopback.handshake(clientTLS, serverTLS).server, .completed)
        XCTAssertEqual(clientTLS.shutdown(), .closed)
        let outcome = Array("late".utf8).withUnsafeBytes { clientTLS.write($0) }
        XCTAssertEqual(outcome, .failed(.connectionFailed))
    }

    func test_handshake_fails_whenPeerClosesMidHandshake() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair()
        defer { serverTLS.closeSocket() }
        // The client sends its hello, then goes away.
        XCTAssertEqual(clientTLS.handshake(), .wantRead)
        clientTLS.closeSocket()
        let outcome = TLSLoopback.handshake(serverTLS)
        XCTAssertEqual(outcome, .failed(.handshakeFailed))
        XCTAssertTrue(outcome.error?.message.contains("closed the connection during the TLS handshake") == true, "\(outcome)")
    }

    func test_handshake_failsWithoutCrash_onGarbageClientHello_andContextStaysUsable() throws {
        let fixture = try TLSFixture()
        let serverContext = try TLSContext(configuration: fixture.serverConfiguration(), role: .server)
        let garbage: [[UInt8]] = [
            Array(repeating: 0x16, count: 5) + (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 97) },
            [0x16, 0x03, 0x01, 0xFF, 0xFF] + Array(repeating: 0x41, count: 300),
            Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8),
        ]
        for bytes in garbage {
            let fds = try TLSLoopback.socketPair()
            defer { close(fds.client); close(fds.server) }
            let server = try TLSConnection(context: serverContext, fd: fds.server)
            XCTAssertEqual(bytes.withUnsafeBytes { send(fds.client, $0.baseAddress, $0.count, 0) }, bytes.count)
            shutdownWrite(fds.client)
            let outcome = TLSLoopback.handshake(server)
            XCTAssertEqual(outcome, .failed(.handshakeFailed), "\(outcome)")
            XCTAssertFalse(outcome.error?.message.isEmpty ?? true)
        }
        // An HTTP request gets a pointed message.
        let fds = try TLSLoopback.socketPair()
        defer { close(fds.client); close(fds.server) }
        let server = try TLSConnection(context: serverContext, fd: fds.server)
        let request = Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fds.client, $0.baseAddress, $0.count, 0) }
        let outcome = TLSLoopback.handshake(server)
        XCTAssertTrue(outcome.error?.message.contains("plaintext HTTP") == true, "\(outcome)")
        // The same context still serves a real client.
        let clientContext = try TLSContext(configuration: fixture.clientConfiguration(), role: .client)
        let good = try TLSLoopback.socketPair()
        defer { close(good.client); close(good.server) }
        let result = TLSLoopback.handshake(try TLSConnection(context: clientContext, fd: good.client, serverName: "localhost"),
                                           try TLSConnection(context: serverContext, fd: good.server))
        XCTAssertEqual(result.client, .completed)
        XCTAssertEqual(result.server, .completed)
    }

    func test_handshake_failsWithoutCrash_onRandomBytesAfterARecordHeader() throws {
        let fixture = try TLSFixture()
        let serverContext = try TLSContext(configuration: fixture.serverConfiguration(), role: .server)
        var generator = SeededGenerator(seed: 0x5EED)
        for round in 0..<20 {
            let fds = try TLSLoopback.socketPair()
            defer { close(fds.client); close(fds.server) }
            let server = try TLSConnection(context: serverContext, fd: fds.server)
            // A handshake record header (content type 22, version 3.1, a length), then noise.
            let length = Int.random(in: 1...2000, using: &generator)
            let bytes: [UInt8] = [0x16, 0x03, 0x01, UInt8(length >> 8), UInt8(length & 0xFF)]
                + (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = bytes.withUnsafeBytes { send(fds.client, $0.baseAddress, $0.count, 0) }
            shutdownWrite(fds.client)
            let outcome = TLSLoopback.handshake(server)
            XCTAssertEqual(outcome, .failed(.handshakeFailed), "round \(round): \(outcome)")
        }
    }

    func test_read_failsWithoutCrash_onCorruptRecordAfterHandshake() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair()
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        XCTAssertEqual(TLSLoopback.handshake(clientTLS, serverTLS).server, .completed)
        // An application-data record whose ciphertext is noise: authentication fails.
        let record: [UInt8] = [0x17, 0x03, 0x03, 0x00, 0x40] + Array(repeating: 0xA5, count: 64)
        _ = record.withUnsafeBytes { send(clientTLS.fd, $0.baseAddress, $0.count, 0) }
        let end = TLSLoopback.read(serverTLS, count: 1).end
        XCTAssertEqual(end, .failed(.connectionFailed))
        XCTAssertTrue(end?.error?.message.contains("bad record mac") == true, "\(String(describing: end))")
        // The failure sticks.
        var buffer = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(buffer.withUnsafeMutableBytes { serverTLS.read(into: $0) }, .failed(.connectionFailed))
        XCTAssertEqual(serverTLS.shutdown(), .closed)
    }

    func test_handshake_failsWithPointedMessage_whenServerIsNotTLS() throws {
        let fixture = try TLSFixture()
        let clientContext = try TLSContext(configuration: fixture.clientConfiguration(), role: .client)
        let fds = try TLSLoopback.socketPair()
        defer { close(fds.client); close(fds.server) }
        let client = try TLSConnection(context: clientContext, fd: fds.client, serverName: "localhost")
        XCTAssertEqual(client.handshake(), .wantRead)
        let answer = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8)
        _ = answer.withUnsafeBytes { send(fds.server, $0.baseAddress, $0.count, 0) }
        let outcome = TLSLoopback.handshake(client)
        XCTAssertEqual(outcome, .failed(.handshakeFailed))
        XCTAssertTrue(outcome.error?.message.contains("does not speak TLS") == true, "\(outcome)")
    }

    func test_handshake_completes_whenClientSkipsVerificationForLocalDevelopment() throws {
        let fixture = try TLSFixture()
        var client = TLSConfiguration(certificateVerification: .insecureNoVerificationForLocalDevelopment)
        client.trust = .system
        let (clientTLS, serverTLS) = try fixture.pair(server: fixture.serverConfiguration(fixture.certificates.expired),
                                                      client: client, serverName: "wrong.example.com")
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        let outcome = TLSLoopback.handshake(clientTLS, serverTLS)
        XCTAssertEqual(outcome.client, .completed, "\(outcome.client)")
        XCTAssertEqual(outcome.server, .completed, "\(outcome.server)")
    }

    func test_shutdown_beforeHandshake_sendsNothingAndReportsClosed() throws {
        let fixture = try TLSFixture()
        let (clientTLS, serverTLS) = try fixture.pair()
        defer { clientTLS.closeSocket(); serverTLS.closeSocket() }
        XCTAssertEqual(clientTLS.shutdown(), .closed)
        XCTAssertFalse(clientTLS.isEstablished)
    }

    private func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }
}

/// A deterministic random source (SplitMix64), so a failing round can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
