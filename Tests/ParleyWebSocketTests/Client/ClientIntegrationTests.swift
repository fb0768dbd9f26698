import Foundation
import Glibc
import XCTest
@testable import ParleyWebSocket

/// The client against the server over loopback: messages, closing, keep-alive, and the
/// errors of `connect`.
final class ClientIntegrationTests: XCTestCase {
    /// Payload lengths around every length-encoding boundary of RFC 6455 5.2, up to just under
    /// the default 1 MiB message limit.
    private static let boundaryLengths = [0, 1, 125, 126, 127, 65535, 65536, (1 << 20) - 1]

    // MARK: Messages

    func test_echo_returnsTextUnchanged_atLengthBoundaries() async throws {
        let server = try startEchoServer()
        let client = try await connectClient(to: server.url())
        for length in Self.boundaryLengths {
            let text = testText(count: length)
            client.socket.send(text: text)
            let echo = try await client.messages.expectNext("the echo of \(length) bytes of text")
            XCTAssertTrue(echo == .text(text), "sent text(\(length) bytes), got \(echo.summary)")
        }
    }

    func test_onMessageBytes_echoesTextAndBinaryFragmentedOrNot_withoutOnMessage() async throws {
        let server = try startServer { socket, _ in
            socket.onMessageBytes { socket, opcode, bytes in
                if opcode == .text { socket.send(textUTF8: bytes) } else { socket.send(binary: bytes) }
            }
        }
        let client = try await connectClient(to: server.url())
        for length in Self.boundaryLengths {
            let text = testText(count: length)
            client.socket.send(text: text)
            let echo = try await client.messages.expectNext("the bytes echo of \(length) bytes of text")
            XCTAssertTrue(echo == .text(text), "sent text(\(length) bytes), got \(echo.summary)")
            let bytes = testPattern(count: length)
            client.socket.send(binary: bytes)
            let binaryEcho = try await client.messages.expectNext("the bytes echo of \(length) binary bytes")
            XCTAssertTrue(binaryEcho == .binary(bytes), "sent binary(\(length) bytes), got \(binaryEcho.summary)")
        }
    }

    func test_echo_returnsBinaryUnchanged_atLengthBoundaries() async throws {
        let server = try startEchoServer()
        let client = try await connectClient(to: server.url())
        for length in Self.boundaryLengths {
            let bytes = testPattern(count: length)
            client.socket.send(binary: bytes)
            let echo = try await client.messages.expectNext("the echo of \(length) binary bytes")
            XCTAssertTrue(echo == .binary(bytes), "sent binary(\(length) bytes), got \(echo.summary)")
        }
    }

    func test_echo_returnsMultibyteTextUnchanged() async throws {
        let server = try startEchoServer()
        let client = try await connectClient(to: server.url())
        let text = String(repeating: "héllo wörld ✓ 🚀 ", count: 5000)
        client.socket.send(text: text)
        let echo = try await client.messages.expectNext("the echo")
        XCTAssertTrue(echo == .text(text), "got \(echo.summary)")
    }

    func test_messages_arriveInOrder_whenThousandAreSentBackToBack() async throws {
        let server = try startEchoServer()
        let client = try await connectClient(to: server.url())
        let count = 1000
        for index in 0..<count { client.socket.send(text: "message \(index)") }
        for index in 0..<count {
            let message = try await client.messages.expectNext("message \(index)")
            guard message == .text("message \(index)") else {
                return XCTFail("expected message \(index), got \(message)")
            }
        }
    }

    func test_messages_areReceivedByServerInOrder_whenSentFromManyThreads() async throws {
        let received = Inbox<WebSocketMessage>()
        let server = try startServer { socket, _ in socket.onMessage { _, message in received.put(message) } }
        let client = try await connectClient(to: server.url())
        // Each sender's own messages must stay in order, whatever the interleaving.
        DispatchQueue.concurrentPerform(iterations: 4) { sender in
            for index in 0..<100 { client.socket.send(text: "\(sender):\(index)") }
        }
        var next = [Int](repeating: 0, count: 4)
        for _ in 0..<400 {
            guard case .text(let text) = try await received.expectNext("message") else { return XCTFail("not text") }
            let parts = text.split(separator: ":").compactMap { Int($0) }
            XCTAssertEqual(parts.count, 2)
            XCTAssertEqual(parts[1], next[parts[0]], "sender \(parts[0]) out of order")
            next[parts[0]] = parts[1] + 1
        }
        XCTAssertEqual(next, [100, 100, 100, 100])
    }

    func test_connect_deliversFrameSentWithThe101_toOnOpenHandlers() async throws {
        let server = try startServer { socket, _ in socket.send(text: "welcome") }  // queued right behind the 101
        let client = try await connectClient(to: server.url())
        let welcome = try await client.messages.expectNext("the welcome message")
        XCTAssertEqual(welcome, .text("welcome"))
    }

    // MARK: Closing

    func test_close_deliversServerCodeAndReason_toClientOnClose() async throws {
        let serverCloses = Inbox<CloseEvent>()
        let server = try startServer { socket, _ in
            socket.onClose { _, code, reason in serverCloses.put(CloseEvent(code: code, reason: reason)) }
            socket.onMessage { socket, _ in socket.close(code: CloseCode(4000), reason: "bye now") }
        }
        let client = try await connectClient(to: server.url())
        client.socket.send(text: "close me")
        let close = try await client.closes.expectNext("the client's onClose")
        XCTAssertEqual(close, CloseEvent(code: CloseCode(4000), reason: "bye now"))
        let serverClose = try await serverCloses.expectNext("the server's onClose")
        XCTAssertEqual(serverClose.code, CloseCode(4000))
        XCTAssertEqual(client.socket.send(text: "after close"), .scheduled)  // off the loop: decided there
        let late = await runOnLoop(of: client.socket) { client.socket.send(text: "after close") }
        XCTAssertEqual(late, .closed)
    }

    func test_close_deliversClientCodeAndReason_toServerOnClose() async throws {
        let serverCloses = Inbox<CloseEvent>()
        let serverSockets = Inbox<WebSocket>()
        let server = try startServer { socket, _ in
            socket.onClose { _, code, reason in serverCloses.put(CloseEvent(code: code, reason: reason)) }
            serverSockets.put(socket)
        }
        let client = try await connectClient(to: server.url())
        let serverSocket = try await serverSockets.expectNext("onConnection")
        client.socket.close(code: CloseCode(4001), reason: "client leaving")
        let serverClose = try await serverCloses.expectNext("the server's onClose")
        XCTAssertEqual(serverClose, CloseEvent(code: CloseCode(4001), reason: "client leaving"))
        let clientClose = try await client.closes.expectNext("the client's onClose")
        XCTAssertEqual(clientClose.code, CloseCode(4001))
        // The slot is freed on the loop right after onClose returns: a task queued there now runs after it.
        await runOnLoop(of: serverSocket) {}
        XCTAssertEqual(server.server.connectionCount, 0)
    }

    func test_close_reports1006_whenServerTerminatesWithoutHandshake() async throws {
        let server = try startServer { socket, _ in socket.onMessage { socket, _ in socket.terminate() } }
        let client = try await connectClient(to: server.url())
        client.socket.send(text: "drop me")
        let close = try await client.closes.expectNext("the client's onClose")
        XCTAssertEqual(close.code, .abnormalClosure)
    }

    // MARK: Keep-alive

    func test_keepAlive_clientAnswersPingsAutomatically_acrossSeveralIntervals() async throws {
        let serverCloses = Inbox<CloseEvent>()
        let server = try startEchoServer(configure: {
            $0.webSocket.pingInterval = .milliseconds(200)
            $0.webSocket.pingTimeout = .milliseconds(200)
        }) { socket, _ in
            socket.onClose { _, code, reason in serverCloses.put(CloseEvent(code: code, reason: reason)) }
            // After five ping deadlines (pings at 200, 400, 600, 800 ms): a peer that did not
            // answer would have been dropped at 400 ms.
            DispatchQueue.global().asyncAfter(deadline: .now() + 1.1) { socket.send(text: "still connected") }
        }
        let client = try await connectClient(to: server.url())
        let late = try await client.messages.expectNext("the server's delayed message")
        XCTAssertEqual(late, .text("still connected"))
        XCTAssertEqual(serverCloses.pending, [], "the server dropped a client that answers pings")
        XCTAssertEqual(client.closes.pending, [])
        client.socket.send(text: "echo?")
        let echo = try await client.messages.expectNext("an echo after several ping intervals")
        XCTAssertEqual(echo, .text("echo?"))
    }

    // MARK: Connect errors

    func test_connect_throwsConnectFailed_whenNothingListens() async throws {
        let port = try SilentListener.closedPort()
        do {
            _ = try await WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/")
            XCTFail("connected to a closed port")
        } catch let error as WebSocketError {
            guard case .connectFailed(let host, let failedPort, let code) = error else {
                return XCTFail("expected connectFailed, got \(error)")
            }
            XCTAssertEqual(host, "127.0.0.1")
            XCTAssertEqual(failedPort, port)
            XCTAssertEqual(code, ECONNREFUSED)
        }
    }

    func test_connect_failsWithTLSError_forWSSToPlainServer() async throws {
        let server = try startEchoServer()
        do {
            _ = try await WebSocketClient.connect(to: "wss://127.0.0.1:\(server.port)/")
            XCTFail("a plain server cannot complete a TLS handshake")
        } catch let error as WebSocketError {
            guard case .tls(let tls) = error else { return XCTFail("expected a TLS error, got \(error)") }
            XCTAssertTrue(tls.message.contains("does not speak TLS"), tls.message)
        }
        XCTAssertEqual(server.server.connectionCount, 0)
    }

    func test_connect_throwsHandshakeRejected404_whenPathIsUnknown() async throws {
        let server = try startEchoServer()
        do {
            _ = try await WebSocketClient.connect(to: server.url("/nowhere"))
            XCTFail("connected to a path that is not the WebSocket path")
        } catch let error as WebSocketError {
            XCTAssertEqual(error, .handshakeRejected(status: 404, reason: "Not Found"))
        }
    }

    func test_connect_throwsHandshakeRejected403_whenOriginIsNotAllowed() async throws {
        let server = try startEchoServer { $0.allowedOrigins = ["https://good.example"] }
        var configuration = WebSocketClient.Configuration()
        configuration.headers = [("Origin", "https://evil.example")]
        do {
            _ = try await WebSocketClient.connect(to: server.url(), configuration: configuration)
            XCTFail("connected from a refused origin")
        } catch let error as WebSocketError {
            XCTAssertEqual(error, .handshakeRejected(status: 403, reason: "Forbidden"))
        }
    }

    func test_connect_throwsConnectTimeout_whenServerNeverAnswers() async throws {
        let listener = try SilentListener()
        var configuration = WebSocketClient.Configuration()
        configuration.connectTimeout = .milliseconds(300)
        let start = ContinuousClock.now
        do {
            _ = try await WebSocketClient.connect(to: "ws://127.0.0.1:\(listener.port)/", configuration: configuration)
            XCTFail("a server that never answers cannot complete a handshake")
        } catch let error as WebSocketError {
            XCTAssertEqual(error, .connectTimeout)
        }
        let elapsed = secondsSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.25)
        XCTAssertLessThan(elapsed, 3)
        withExtendedLifetime(listener) {}
    }

    // MARK: Addressing and request

    func test_connect_resolvesLocalhost() async throws {
        let server = try startEchoServer()
        let client = try await connectClient(to: "ws://localhost:\(server.port)/")
        client.socket.send(text: "via localhost")
        let echo = try await client.messages.expectNext("the echo")
        XCTAssertEqual(echo, .text("via localhost"))
    }

    func test_connect_deliversExtraHeadersAndQuery_toOnConnection() async throws {
        let requests = Inbox<HTTPRequestHead>()
        let server = try startEchoServer(onConnection: { _, request in requests.put(request) })
        _ = try await connectClient(to: server.url("/?token=abc%20def&room=1")) {
            $0.headers = [("Origin", "https://app.example"), ("Authorization", "Bearer secret-token")]
        }
        let request = try await requests.expectNext("onConnection")
        XCTAssertEqual(request.method, "GET")
        XCTAssertEqual(request.path, "/")
        XCTAssertEqual(request["Authorization"], "Bearer secret-token")
        XCTAssertEqual(request["origin"], "https://app.example")
        XCTAssertEqual(request.query["token"], "abc def")
        XCTAssertEqual(request.query["room"], "1")
        XCTAssertEqual(request["Host"], "127.0.0.1:\(server.port)")
    }

    func test_connect_overIPv6Loopback_whenServerListensOnIPv6() async throws {
        let server: TestServer
        do {
            server = try startEchoServer(host: "::1")
        } catch WebSocketError.bindFailed(_, _, let code) {
            throw XCTSkip("IPv6 loopback unavailable: \(String(cString: strerror(code)))")
        }
        XCTAssertEqual(server.url(), "ws://[::1]:\(server.port)/")
        let client = try await connectClient(to: server.url())
        client.socket.send(text: "over IPv6")
        let echo = try await client.messages.expectNext("the echo over IPv6")
        XCTAssertEqual(echo, .text("over IPv6"))
    }

    func test_connect_usesOwnGroup_whenOneIsGiven() async throws {
        let server = try startEchoServer()
        let group = EventLoopGroup(loopCount: 1, name: "test-client")
        let messages = Inbox<WebSocketMessage>()
        let closes = Inbox<CloseEvent>()
        let socket = try await WebSocketClient.connect(to: server.url(), group: group) { socket in
            socket.onMessage { _, message in messages.put(message) }
            socket.onClose { _, code, reason in closes.put(CloseEvent(code: code, reason: reason)) }
        }
        XCTAssertTrue(socket.loop === group.loops[0])
        socket.send(text: "own group")
        let echo = try await messages.expectNext("the echo")
        XCTAssertEqual(echo, .text("own group"))
        socket.close()
        _ = try await closes.expectNext("the close")
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                group.shutdown()
                continuation.resume()
            }
        }
    }
}
