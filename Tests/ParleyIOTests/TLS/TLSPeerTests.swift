import Glibc
import TestSupport
import XCTest
@_spi(IO) @testable import ParleyIO

/// The engine against Python's `ssl` module, both ways, over TCP on 127.0.0.1.
final class TLSPeerTests: XCTestCase {
    /// Sends `bytes` and reads `expected` bytes back at the same time (the peer echoes as it
    /// reads); returns what came back and how reading ended (nil: by count).
    private func exchange(_ bytes: [UInt8], expected: Int, over connection: TLSConnection) -> (bytes: [UInt8], end: TLSConnection.Outcome?) {
        let deadline = ContinuousClock.now + TLSLoopback.timeout
        var sent = 0
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while received.count < expected && ContinuousClock.now < deadline {
            var wantsWrite = false
            if sent < bytes.count {
                switch bytes[sent...].withUnsafeBytes({ connection.write($0) }) {
                case .bytes(let n): sent += n
                case .wantWrite: wantsWrite = true
                case .wantRead: break
                case let end: return (received, end)
                }
            }
            readLoop: while true {
                switch buffer.withUnsafeMutableBytes({ connection.read(into: $0) }) {
                case .bytes(let n): received += buffer[..<n]
                case .wantRead, .wantWrite: break readLoop
                case let end: return (received, end)
                }
            }
            if received.count < expected {
                var pollFD = pollfd(fd: connection.fd, events: Int16(POLLIN) | (wantsWrite ? Int16(POLLOUT) : 0), revents: 0)
                _ = poll(&pollFD, 1, sent < bytes.count && !wantsWrite ? 0 : 100)
            }
        }
        return (received, nil)
    }

    func test_client_exchangesOneMebibyte_withPythonServer_andSeesItsCloseNotify() throws {
        let fixture = try TLSFixture()
        let peer = try PythonTLSPeer(["server", "--cert", fixture.certificates.server.certificate,
                                      "--key", fixture.certificates.server.key, "--alpn", "http/1.1"])
        let port = try XCTUnwrap(Int(peer.line()), "the peer printed no port")
        let fd = try TLSLoopback.connect(port: port)
        defer { close(fd) }
        var configuration = fixture.clientConfiguration()
        configuration.applicationProtocols = ["http/1.1"]
        let client = try TLSConnection(context: TLSContext(configuration: configuration, role: .client), fd: fd, serverName: "localhost")
        XCTAssertEqual(TLSLoopback.handshake(client), .completed)
        XCTAssertEqual(peer.line(), "established TLSv1.3 http/1.1")
        XCTAssertEqual(client.applicationProtocol, "http/1.1")
        let payload = TLSLoopback.pattern(1 << 20)
        let echo = exchange(payload, expected: payload.count, over: client)
        XCTAssertNil(echo.end)
        XCTAssertTrue(echo.bytes == payload, "echo corrupted: \(echo.bytes.count) bytes")
        XCTAssertEqual(client.shutdown(), .closed)
        // Python answers our close_notify with its own.
        XCTAssertEqual(TLSLoopback.read(client, count: 1).end, .closed)
        XCTAssertEqual(peer.line(), "echoed \(payload.count)")
        peer.wait()
    }

    func test_client_speaksTLS12_withPythonServerLimitedToIt() throws {
        let fixture = try TLSFixture()
        let peer = try PythonTLSPeer(["server", "--cert", fixture.certificates.server.certificate,
                                      "--key", fixture.certificates.server.key, "--max", "1.2"])
        let port = try XCTUnwrap(Int(peer.line()))
        let fd = try TLSLoopback.connect(port: port)
        defer { close(fd) }
        let client = try TLSConnection(context: TLSContext(configuration: fixture.clientConfiguration(), role: .client), fd: fd, serverName: "localhost")
        XCTAssertEqual(TLSLoopback.handshake(client), .completed)
        XCTAssertEqual(client.protocolVersion, "TLSv1.2")
        XCTAssertEqual(exchange(Array("ping".utf8), expected: 4, over: client).bytes, Array("ping".utf8))
        XCTAssertEqual(client.shutdown(), .closed)
        peer.wait()
    }

    func test_client_refusesTLS12Server_whenMinimumIsTLS13() throws {
        let fixture = try TLSFixture()
        let peer = try PythonTLSPeer(["server", "--cert", fixture.certificates.server.certificate,
                                      "--key", fixture.certificates.server.key, "--max", "1.2"])
        let port = try XCTUnwrap(Int(peer.line()))
        let fd = try TLSLoopback.connect(port: port)
        defer { close(fd) }
        var configuration = fixture.clientConfiguration()
        configuration.minimumVersion = .tls13
        let client = try TLSConnection(context: TLSContext(configuration: configuration, role: .client), fd: fd, serverName: "localhost")
        let outcome = TLSLoopback.handshake(client)
        XCTAssertEqual(outcome, .failed(.handshakeFailed))
        XCTAssertTrue(outcome.error?.message.contains("no TLS version in common") == true, "\(outcome)")
        XCTAssertTrue(peer.line().hasPrefix("handshake-error"))
        peer.wait()
    }

    func test_client_refusesPythonServer_whoseCertificateNamesAnotherHost() throws {
        let fixture = try TLSFixture()
        let peer = try PythonTLSPeer(["server", "--cert", fixture.certificates.wrongHost.certificate,
                                      "--key", fixture.certificates.wrongHost.key])
        let port = try XCTUnwrap(Int(peer.line()))
        let fd = try TLSLoopback.connect(port: port)
        defer { close(fd) }
        let client = try TLSConnection(context: TLSContext(configuration: fixture.clientConfiguration(), role: .client), fd: fd, serverName: "localhost")
        let outcome = TLSLoopback.handshake(client)
        XCTAssertEqual(outcome, .failed(.certificateVerificationFailed))
        XCTAssertTrue(outcome.error?.message.contains("host name mismatch: expected localhost") == true, "\(outcome)")
        XCTAssertTrue(peer.line().hasPrefix("handshake-error"))
        peer.wait()
    }

    /// Runs a server connection for a Python client: receives `size` bytes, checks them, sends
    /// them back reversed, then reads the client's close_notify.
    private func serve(_ configuration: TLSConfiguration, clientArguments: [String], size: Int) throws -> (handshake: TLSConnection.HandshakeOutcome, peer: PythonTLSPeer, server: TLSConnection) {
        let context = try TLSContext(configuration: configuration, role: .server)
        let listener = try TLSLoopback.listen(host: "127.0.0.1")
        defer { close(listener.fd) }
        let peer = try PythonTLSPeer(["client", "--port", String(listener.port), "--size", String(size)] + clientArguments)
        var pollFD = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&pollFD, 1, 10_000), 1, "the Python client did not connect")
        let fd = accept(listener.fd, nil, nil)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let server = try TLSConnection(context: context, fd: fd)
        return (TLSLoopback.handshake(server), peer, server)
    }

    func test_server_exchangesOneMebibyte_withPythonClient_andSeesItsCloseNotify() throws {
        let fixture = try TLSFixture()
        var configuration = fixture.serverConfiguration()
        configuration.applicationProtocols = ["http/1.1"]
        let size = 1 << 20
        let run = try serve(configuration, clientArguments: ["--ca", fixture.certificates.ca, "--alpn", "http/1.1"], size: size)
        defer { run.server.closeSocket() }
        XCTAssertEqual(run.handshake, .completed)
        XCTAssertEqual(run.peer.line(), "established TLSv1.3 http/1.1")
        let upload = TLSLoopback.read(run.server, count: size)
        XCTAssertTrue(upload.bytes == TLSLoopback.pattern(size), "upload corrupted: \(upload.bytes.count) bytes")
        XCTAssertEqual(TLSLoopback.writeAll(Array(TLSLoopback.pattern(size).reversed()), to: run.server), .bytes(size))
        XCTAssertEqual(run.peer.line(), "download intact \(size)")
        XCTAssertEqual(TLSLoopback.read(run.server, count: 1).end, .closed)
        XCTAssertEqual(run.server.shutdown(), .closed)
        XCTAssertEqual(run.peer.line(), "closed")
        run.peer.wait()
    }

    func test_server_acceptsPythonClientCertificate_withMutualTLS() throws {
        let fixture = try TLSFixture()
        var configuration = fixture.serverConfiguration()
        configuration.trust = .certificateAuthorities(.file(fixture.certificates.ca))
        configuration.clientCertificateRequired = true
        let run = try serve(configuration, clientArguments: ["--ca", fixture.certificates.ca,
                                                             "--cert", fixture.certificates.client.certificate,
                                                             "--key", fixture.certificates.client.key], size: 5)
        defer { run.server.closeSocket() }
        XCTAssertEqual(run.handshake, .completed)
        XCTAssertEqual(TLSLoopback.read(run.server, count: 5).bytes, TLSLoopback.pattern(5))
        XCTAssertEqual(TLSLoopback.writeAll(Array(TLSLoopback.pattern(5).reversed()), to: run.server), .bytes(5))
        XCTAssertEqual(run.peer.line(), "established TLSv1.3 None")
        XCTAssertEqual(run.peer.line(), "download intact 5")
        XCTAssertEqual(run.server.shutdown(), .closed)
        run.peer.wait()
    }

    func test_server_refusesPythonClient_withoutCertificate_underMutualTLS() throws {
        let fixture = try TLSFixture()
        var configuration = fixture.serverConfiguration()
        configuration.trust = .certificateAuthorities(.file(fixture.certificates.ca))
        configuration.clientCertificateRequired = true
        let run = try serve(configuration, clientArguments: ["--ca", fixture.certificates.ca], size: 5)
        defer { run.server.closeSocket() }
        XCTAssertEqual(run.handshake, .failed(.handshakeFailed))
        XCTAssertTrue(run.handshake.error?.message.contains("the client sent no certificate") == true, "\(run.handshake)")
        _ = run.peer.line()
        run.peer.wait()
    }
}
