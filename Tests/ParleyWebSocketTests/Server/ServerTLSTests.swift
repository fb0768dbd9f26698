import Foundation
@_spi(IO) import ParleyIO
import Synchronization
import TestSupport
import XCTest
@testable import ParleyWebSocket

/// The WebSocket server over TLS: clients that stall or send garbage during the TLS handshake,
/// certificate reload, configuration errors at start.
final class ServerTLSTests: XCTestCase {
    private func tlsServer(_ certificates: TestCertificates, pair: TestCertificates.Pair? = nil,
                           configure: (inout WebSocketServer.Configuration) -> Void = { _ in }) throws -> TestServer {
        let pair = pair ?? certificates.server
        return try startEchoServer { configuration in
            configuration.tls = .server(certificateChain: .file(pair.certificate), privateKey: .file(pair.key))
            configure(&configuration)
        }
    }

    private func clientTrusting(_ certificates: TestCertificates) -> (inout WebSocketClient.Configuration) -> Void {
        { $0.tls = TLSConfiguration(trust: .certificateAuthorities(.file(certificates.ca))) }
    }

    private func secureURL(_ server: TestServer) -> String { "wss://localhost:\(server.port)/" }

    /// Connects over TLS and checks one echo.
    private func assertEchoes(_ server: TestServer, _ certificates: TestCertificates, text: String,
                              file: StaticString = #filePath, line: UInt = #line) async throws -> ClientProbe {
        let client = try await connectClient(to: secureURL(server), configure: clientTrusting(certificates))
        client.socket.send(text: text)
        let echoed = await client.messages.next()
        XCTAssertEqual(echoed, .text(text), file: file, line: line)
        return client
    }

    func test_server_dropsClient_stallingMidTLSHandshake_withinHandshakeTimeout() async throws {
        let certificates = try TestCertificates.shared()
        let server = try tlsServer(certificates) { $0.handshakeTimeout = .milliseconds(300) }
        let silent = try RawClient(port: server.port)
        let stalled = try RawClient(port: server.port)
        // A TLS record header announcing a 512-byte ClientHello, then only part of it.
        try stalled.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])
        let start = ContinuousClock.now
        XCTAssertTrue(stalled.awaitEOF(), "a client stalled mid-handshake must be dropped")
        XCTAssertTrue(silent.awaitEOF(), "a client that sends nothing must be dropped")
        let elapsed = secondsSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.2)
        XCTAssertLessThan(elapsed, 2.5)
        _ = try await assertEchoes(server, certificates, text: "still serving")
    }

    func test_server_dropsGarbageClientHello_andGoesOnServing() async throws {
        let certificates = try TestCertificates.shared()
        let lines = Mutex<[String]>([])
        let server = try tlsServer(certificates) { configuration in
            configuration.logger = ParleyLogger(level: .debug) { _, message, _ in lines.withLock { $0.append(message) } }
        }
        let garbage: [[UInt8]] = [
            [0x16, 0x03, 0x01, 0x00, 0x08] + Array("not a hello".utf8.prefix(8)),
            Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            (0..<600).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) },
            [0x16, 0x03, 0x01, 0x00, 0x08] + Array("not a hello".utf8.prefix(8)),
        ]
        for bytes in garbage {
            let client = try RawClient(port: server.port)
            try client.send(bytes)
            let (received, end) = client.readToEnd()
            XCTAssertEqual(end, .eof, "the server must close after garbage")
            XCTAssertLessThan(received.count, 64, "at most an alert comes back")
        }
        let client = try await assertEchoes(server, certificates, text: "unaffected")
        client.socket.close()
        let failures = lines.withLock { $0.filter { $0.contains("TLS handshake failed") } }
        // Two causes of the four attempts repeat: each cause once.
        XCTAssertEqual(failures.count, Set(failures).count, "\(failures)")
        XCTAssertFalse(failures.isEmpty)
        XCTAssertLessThan(failures.count, garbage.count, "\(failures)")
    }

    func test_server_reloadTLS_givesNewConnectionsTheNewCertificate_whileOpenOnesContinue() async throws {
        let certificates = try TestCertificates.shared()
        let directory = NSTemporaryDirectory() + "parley-reload-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let live = TestCertificates.Pair(certificate: directory + "/cert.pem", key: directory + "/key.pem")
        func install(_ pair: TestCertificates.Pair) throws {
            for (from, to) in [(pair.certificate, live.certificate), (pair.key, live.key)] {
                try? FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
        }
        try install(certificates.server)
        let server = try tlsServer(certificates, pair: live)
        let open = try await assertEchoes(server, certificates, text: "before")

        try install(certificates.wrongHost)
        try server.server.reloadTLS()
        do {
            _ = try await connectClient(to: secureURL(server), configure: clientTrusting(certificates))
            XCTFail("the reloaded certificate names another host")
        } catch WebSocketError.tls(let error) {
            XCTAssertTrue(error.message.contains("host name mismatch"), error.message)
        }
        open.socket.send(text: "after")
        let echoed = await open.messages.next()
        XCTAssertEqual(echoed, WebSocketMessage.text("after"), "an open connection keeps its session")

        try install(certificates.server)
        try server.server.reloadTLS()
        _ = try await assertEchoes(server, certificates, text: "renewed")

        try FileManager.default.removeItem(atPath: live.key)
        XCTAssertThrowsError(try server.server.reloadTLS()) { error in
            guard case WebSocketError.tls(let tls) = error else { return XCTFail("expected a TLS error, got \(error)") }
            XCTAssertTrue(tls.message.contains(live.key), tls.message)
        }
        _ = try await assertEchoes(server, certificates, text: "kept the last good one")
    }

    func test_server_start_throwsClearError_whenCertificateCannotBeLoaded() throws {
        var configuration = WebSocketServer.Configuration(host: "127.0.0.1", port: 0, path: "/")
        configuration.tls = .server(certificateChain: .file("/nonexistent/cert.pem"), privateKey: .file("/nonexistent/key.pem"))
        let server = WebSocketServer(configuration: configuration) { _, _ in }
        XCTAssertThrowsError(try server.start()) { error in
            guard case WebSocketError.tls(let tls) = error else { return XCTFail("expected a TLS error, got \(error)") }
            XCTAssertEqual(tls, .invalidConfiguration)
            XCTAssertTrue(tls.message.contains("/nonexistent/cert.pem"), tls.message)
        }
        XCTAssertEqual(server.port, 0, "nothing listens")
        XCTAssertThrowsError(try WebSocketServer(configuration: .init()) { _, _ in }.reloadTLS()) { error in
            XCTAssertEqual(error as? WebSocketError, .tlsNotConfigured)
        }
    }

    func test_server_answersPlainHTTP400_toTLSClientOnPlainPort() throws {
        let server = try startEchoServer()
        let client = try RawClient(port: server.port)
        try client.send([0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03])
        let head = client.readHead()
        XCTAssertEqual(head?.status, 400)
    }

    func test_client_sendsCloseNotify_andServerSeesNormalClosure() async throws {
        let certificates = try TestCertificates.shared()
        let closes = Mailbox<CloseEvent>()
        let observed = try startServer { configuration in
            configuration.tls = .server(certificateChain: .file(certificates.server.certificate), privateKey: .file(certificates.server.key))
        } onConnection: { socket, _ in
            socket.onClose { _, code, reason in closes.put(CloseEvent(code: code, reason: reason)) }
        }
        let client = try await connectClient(to: "wss://127.0.0.1:\(observed.port)/", configure: clientTrusting(certificates))
        client.socket.close(code: .normalClosure, reason: "bye")
        let close = try await closes.expect("the server's close")
        XCTAssertEqual(close, CloseEvent(code: .normalClosure, reason: "bye"))
        let clientClose = await client.closes.next()
        XCTAssertEqual(clientClose?.code, .normalClosure)
    }

    /// 300 frames in 300 TLS records sent at once: the server reads them ahead in a few `recv`s
    /// and must go on reading what its session holds although the socket reports nothing more.
    func test_server_readsEveryRecord_whenManyArriveAtOnce() async throws {
        let certificates = try TestCertificates.shared()
        let server = try tlsServer(certificates)
        let raw = try RawClient(port: server.port)
        let context = try TLSContext(configuration: TLSConfiguration(trust: .certificateAuthorities(.file(certificates.ca)),
                                                                     applicationProtocols: ["http/1.1"]), role: .client)
        let tls = try TLSConnection(context: context, fd: raw.fd, serverName: "localhost")
        XCTAssertEqual(tls.handshake(), .completed)
        func write(_ bytes: [UInt8]) {
            var offset = 0
            while offset < bytes.count {
                guard case .bytes(let n) = bytes.withUnsafeBytes({ tls.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }) else {
                    return XCTFail("TLS write failed")
                }
                offset += n
            }
        }
        func read(atLeast count: Int) -> [UInt8] {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while received.count < count {
                guard case .bytes(let n) = buffer.withUnsafeMutableBytes({ tls.read(into: $0) }) else { break }
                received += buffer[..<n]
            }
            return received
        }
        write(Array(RawClient.upgradeRequest().utf8))
        let head = read(atLeast: 1)
        XCTAssertTrue(String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101"))
        let count = 300
        for index in 0..<count {
            write(FrameEncoder.frame(opcode: .text, fin: true, payload: Array(String(format: "m%04d", index).utf8), maskKey: RawClient.maskKey))
        }
        // Each echo: a 2-byte header and the 5-byte payload, unmasked.
        let echoes = read(atLeast: count * 7)
        XCTAssertEqual(echoes.count, count * 7, "every frame must be echoed")
        XCTAssertEqual(String(decoding: echoes.suffix(5), as: UTF8.self), String(format: "m%04d", count - 1))
        _ = tls.shutdown()
    }

    /// A TLS peer sending small records as fast as it can and never reading: the server reads
    /// them all, its echoes fill the send queue up to its bound, and the peer is closed (1008),
    /// as over plain TCP: nothing it sends makes the server hold more.
    func test_server_boundsTheSendQueue_ofTLSPeerSendingWithoutReading() async throws {
        let certificates = try TestCertificates.shared()
        let maxBuffered = 64 * 1024
        let highWater = Mutex(0)
        let closes = Mailbox<CloseEvent>()
        let server = try startServer { configuration in
            configuration.tls = .server(certificateChain: .file(certificates.server.certificate), privateKey: .file(certificates.server.key))
            configuration.webSocket.maxBufferedBytes = maxBuffered
            configuration.webSocket.closeTimeout = .milliseconds(300)
        } onConnection: { socket, _ in
            socket.onMessage { socket, message in
                socket.send(message)
                let buffered = socket.bufferedAmount
                highWater.withLock { $0 = max($0, buffered) }
            }
            socket.onClose { _, code, reason in closes.put(CloseEvent(code: code, reason: reason)) }
        }
        let raw = try RawClient(port: server.port, receiveBuffer: 4096)
        defer { raw.close() }
        let context = try TLSContext(configuration: TLSConfiguration(trust: .certificateAuthorities(.file(certificates.ca))), role: .client)
        let tls = try TLSConnection(context: context, fd: raw.fd, serverName: "localhost")
        XCTAssertEqual(tls.handshake(), .completed)
        let request = Array(RawClient.upgradeRequest().utf8)
        XCTAssertEqual(request.withUnsafeBytes { tls.write($0) }, .bytes(request.count))
        var head = [UInt8](repeating: 0, count: 4096)
        guard case .bytes(let n) = head.withUnsafeMutableBytes({ tls.read(into: $0) }) else { return XCTFail("no upgrade answer") }
        XCTAssertTrue(String(decoding: head[..<n], as: UTF8.self).hasPrefix("HTTP/1.1 101"))
        // One 512-byte message per record, until the server stops taking them (at most 50 MiB).
        let frame = FrameEncoder.frame(opcode: .binary, fin: true, payload: [UInt8](repeating: 7, count: 512), maskKey: RawClient.maskKey)
        var records = 0
        while records < 100_000, case .bytes = frame.withUnsafeBytes({ tls.write($0) }) {
            records += 1
        }
        let close = try await closes.expect("the server closing the peer that does not read", timeout: .seconds(10))
        XCTAssertTrue([CloseCode.policyViolation, .abnormalClosure].contains(close.code), "\(close)")
        XCTAssertLessThanOrEqual(highWater.withLock { $0 }, maxBuffered, "the send queue grew past its bound")
        XCTAssertGreaterThan(records, 1_000, "the server read the peer's records until its queue was full")
    }
}
