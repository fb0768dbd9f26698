import Foundation
import XCTest
@testable import ParleyWebSocket

/// Server connections over real sockets: protocol failures, keep-alive, slow consumers,
/// broadcast and shutdown.
final class ServerConnectionTests: XCTestCase {
    // MARK: Malformed frames

    /// Upgrades a raw client, sends `bytes`, and asserts that the server answers with a close
    /// frame carrying `expected`, closes TCP, reports `expected` in onClose, and still serves
    /// another client afterwards.
    private func assertServerFailsConnection(
        with expected: CloseCode, after bytes: [UInt8],
        configure: (inout WebSocketServer.Configuration) -> Void = { _ in },
        file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        let serverCloses = Inbox<CloseEvent>()
        let server = try startEchoServer(configure: configure) { socket, _ in
            socket.onClose { _, code, reason in serverCloses.put(CloseEvent(code: code, reason: reason)) }
        }
        let raw = try RawClient(port: server.port)
        try raw.upgrade(file: file, line: line)
        try raw.send(bytes)

        let close = try XCTUnwrap(raw.readCloseFrame(), "no close frame from the server", file: file, line: line)
        XCTAssertEqual(close.closeCode, expected.rawValue, "reason: \(close.closeReason)", file: file, line: line)
        XCTAssertFalse(close.masked, "server frames are never masked", file: file, line: line)
        XCTAssertTrue(raw.awaitEOF(), "the server must close TCP after failing the connection", file: file, line: line)
        raw.close()

        let serverClose = try await serverCloses.expectNext("the server's onClose", file: file, line: line)
        XCTAssertEqual(serverClose.code, expected, file: file, line: line)

        // The failure stayed with that one connection.
        let next = try await connectClient(to: server.url())
        next.socket.send(text: "still serving")
        let echo = try await next.messages.expectNext("an echo from the server after the failure", file: file, line: line)
        XCTAssertEqual(echo, .text("still serving"), file: file, line: line)
    }

    func test_frame_failsWith1002_whenClientFrameIsUnmasked() async throws {
        try await assertServerFailsConnection(with: .protocolError,
                                              after: FrameEncoder.frame(opcode: .text, payload: Array("hi".utf8), maskKey: nil))
    }

    func test_frame_failsWith1002_whenReservedBitIsSet() async throws {
        var frame = FrameEncoder.frame(opcode: .text, payload: Array("hi".utf8), maskKey: RawClient.maskKey)
        frame[0] |= 0x40  // RSV1 without a negotiated extension
        try await assertServerFailsConnection(with: .protocolError, after: frame)
    }

    func test_frame_failsWith1007_whenTextIsInvalidUTF8() async throws {
        let frame = FrameEncoder.frame(opcode: .text, payload: [0x48, 0x69, 0xC0, 0xAF], maskKey: RawClient.maskKey)
        try await assertServerFailsConnection(with: .invalidPayload, after: frame)
    }

    func test_frame_failsWith1009WithoutReadingPayload_whenLengthExceedsMaxFrameSize() async throws {
        // Only the header of a 2,048-byte binary frame: the server must refuse on the length alone.
        let header: [UInt8] = [0x82, 0x80 | 126, 0x08, 0x00, 0x12, 0x34, 0x56, 0x78]
        try await assertServerFailsConnection(with: .messageTooBig, after: header) { $0.webSocket.maxFrameSize = 1024 }
    }

    func test_frame_failsWith1009_when64BitLengthExceedsMaxFrameSize() async throws {
        let header: [UInt8] = [0x82, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0]  // 4 GiB, header only
        try await assertServerFailsConnection(with: .messageTooBig, after: header) { $0.webSocket.maxFrameSize = 1024 }
    }

    func test_frame_failsWith1002_whenPingPayloadIs126Bytes() async throws {
        let frame = FrameEncoder.frame(opcode: .ping, payload: [UInt8](repeating: 0x61, count: 126), maskKey: RawClient.maskKey)
        try await assertServerFailsConnection(with: .protocolError, after: frame)
    }

    func test_frame_failsWith1002_whenOpcodeIsReserved() async throws {
        var frame = FrameEncoder.frame(opcode: .binary, payload: [1, 2, 3], maskKey: RawClient.maskKey)
        frame[0] = 0x80 | 0x3
        try await assertServerFailsConnection(with: .protocolError, after: frame)
    }

    func test_frame_failsWith1002_whenControlFrameIsFragmented() async throws {
        let frame = FrameEncoder.frame(opcode: .ping, fin: false, payload: [1], maskKey: RawClient.maskKey)
        try await assertServerFailsConnection(with: .protocolError, after: frame)
    }

    func test_frame_failsWith1002_whenContinuationHasNoMessage() async throws {
        let frame = FrameEncoder.frame(opcode: .continuation, payload: [1], maskKey: RawClient.maskKey)
        try await assertServerFailsConnection(with: .protocolError, after: frame)
    }

    func test_frame_failsWith1002_whenCloseCodeIsReserved() async throws {
        let frame = FrameEncoder.frame(opcode: .close, payload: [0x03, 0xED], maskKey: RawClient.maskKey)  // 1005
        try await assertServerFailsConnection(with: .protocolError, after: frame)
    }

    func test_frame_failsWith1009_whenFragmentsExceedMaxMessageSize() async throws {
        let first = FrameEncoder.frame(opcode: .binary, fin: false, payload: testPattern(count: 600), maskKey: RawClient.maskKey)
        let second = FrameEncoder.frame(opcode: .continuation, payload: testPattern(count: 600), maskKey: RawClient.maskKey)
        try await assertServerFailsConnection(with: .messageTooBig, after: first + second) { $0.webSocket.maxMessageSize = 1024 }
    }

    func test_frame_isEchoed_whenSentByHandAndValid() throws {
        let server = try startEchoServer()
        let raw = try RawClient(port: server.port)
        defer { raw.close() }
        try raw.upgrade()
        // A fragmented text message with a ping in between, in one write.
        try raw.send(FrameEncoder.frame(opcode: .text, fin: false, payload: Array("Hel".utf8), maskKey: RawClient.maskKey)
            + FrameEncoder.frame(opcode: .ping, payload: [7], maskKey: RawClient.maskKey)
            + FrameEncoder.frame(opcode: .continuation, payload: Array("lo".utf8), maskKey: RawClient.maskKey))
        let pong = try XCTUnwrap(raw.readFrame(), "no pong")
        XCTAssertEqual(pong.opcode, Opcode.pong.rawValue)
        XCTAssertEqual(pong.payload, [7])
        let echo = try XCTUnwrap(raw.readFrame(), "no echo")
        XCTAssertEqual(echo, RawFrame(fin: true, rsv: 0, opcode: Opcode.text.rawValue, masked: false, payload: Array("Hello".utf8)))
    }

    func test_upgrade_handlesFrameSentWithTheRequest_inOneWrite() throws {
        let server = try startEchoServer()
        let raw = try RawClient(port: server.port)
        defer { raw.close() }
        let frame = FrameEncoder.frame(opcode: .text, payload: Array("early".utf8), maskKey: RawClient.maskKey)
        try raw.send(Array(RawClient.upgradeRequest().utf8) + frame)
        XCTAssertEqual(raw.readHead()?.status, 101)
        let echo = try XCTUnwrap(raw.readFrame(), "the frame sent with the request was lost")
        XCTAssertEqual(echo.payload, Array("early".utf8))
    }

    // MARK: Keep-alive

    func test_keepAlive_dropsPeerAndReports1006_whenPingsGoUnanswered() async throws {
        let serverCloses = Inbox<CloseEvent>()
        let server = try startEchoServer(configure: {
            $0.webSocket.pingInterval = .milliseconds(200)
            $0.webSocket.pingTimeout = .milliseconds(200)
        }) { socket, _ in
            socket.onClose { _, code, reason in serverCloses.put(CloseEvent(code: code, reason: reason)) }
        }
        let raw = try RawClient(port: server.port, timeout: .seconds(3))
        defer { raw.close() }
        let start = ContinuousClock.now
        try raw.upgrade()
        // Read (so nothing backs up) but never answer: the ping goes unanswered.
        let ping = try XCTUnwrap(raw.readFrame(), "no ping within the ping interval")
        XCTAssertEqual(ping.opcode, Opcode.ping.rawValue)
        XCTAssertTrue(raw.awaitEOF(), "the server kept a peer that does not answer pings")
        let elapsed = secondsSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.3, "dropped before pingInterval + pingTimeout")
        XCTAssertLessThan(elapsed, 0.4 + 1.5, "not dropped within pingInterval + pingTimeout")

        let serverClose = try await serverCloses.expectNext("the server's onClose")
        XCTAssertEqual(serverClose.code, .abnormalClosure)
    }

    func test_keepAlive_keepsPeer_whenItAnswersPingsByHand() throws {
        let server = try startEchoServer {
            $0.webSocket.pingInterval = .milliseconds(100)
            $0.webSocket.pingTimeout = .milliseconds(100)
        }
        let raw = try RawClient(port: server.port, timeout: .seconds(2))
        defer { raw.close() }
        try raw.upgrade()
        // Answer five pings (each ping's deadline passes before the next ping is sent).
        for index in 0..<5 {
            let ping = try XCTUnwrap(raw.readFrame(), "ping \(index) did not come; connection gone?")
            XCTAssertEqual(ping.opcode, Opcode.ping.rawValue)
            try raw.sendFrame(.pong, ping.payload)
        }
        try raw.sendFrame(.text, Array("alive".utf8))
        var frame = raw.readFrame()
        while frame?.opcode == Opcode.ping.rawValue { frame = raw.readFrame() }
        XCTAssertEqual(frame?.payload, Array("alive".utf8))
    }

    // MARK: Slow consumers

    func test_slowConsumer_isClosedWithoutExceedingMaxBufferedBytes_whenPeerNeverReads() async throws {
        let maxBuffered = 64 * 1024
        let sockets = Inbox<WebSocket>()
        let serverCloses = Inbox<CloseEvent>()
        let server = try startServer(configure: {
            $0.webSocket.maxBufferedBytes = maxBuffered
            $0.webSocket.closeTimeout = .milliseconds(300)
        }) { socket, _ in
            socket.onClose { _, code, reason in serverCloses.put(CloseEvent(code: code, reason: reason)) }
            sockets.put(socket)
        }
        let raw = try RawClient(port: server.port, receiveBuffer: 4096)
        defer { raw.close() }
        try raw.upgrade()  // then never read again
        let socket = try await sockets.expectNext("onConnection")

        let message = testPattern(count: 16 * 1024)
        let volatileFrame = EncodedFrame(binary: testPattern(count: 2048))
        var volatileResult: WebSocket.SendResult?
        var lastResult = WebSocket.SendResult.enqueued
        var highWater = 0
        var sends = 0
        // One send per loop iteration, so the loop flushes to the kernel between sends.
        while lastResult != .closed && sends < 10_000 {
            sends += 1
            let tryVolatile = volatileResult == nil
            let (volatile, result, buffered) = await runOnLoop(of: socket) { () -> (WebSocket.SendResult?, WebSocket.SendResult, Int) in
                // Bytes left after the last flush mean the kernel refused more: not writable.
                let volatile = tryVolatile && socket.bufferedAmount > 0 ? socket.send(volatileFrame, volatile: true) : nil
                let result = socket.send(binary: message)
                return (volatile, result, socket.bufferedAmount)
            }
            if let volatile { volatileResult = volatile }
            lastResult = result
            highWater = max(highWater, buffered)
        }
        XCTAssertEqual(lastResult, .closed, "\(sends) sends of 16 KiB to a peer that never reads were all accepted")
        XCTAssertLessThanOrEqual(highWater, maxBuffered, "the send queue grew past maxBufferedBytes")
        XCTAssertEqual(volatileResult, .dropped, "a volatile send to an unwritable socket must be dropped")

        let serverClose = try await serverCloses.expectNext("the server's onClose after the send queue overflowed")
        // 1008 is sent; the peer never reads it, so the close timer reports the drop (1006).
        XCTAssertTrue([CloseCode.policyViolation, .abnormalClosure].contains(serverClose.code), "got \(serverClose)")
        let after = await runOnLoop(of: socket) { socket.send(text: "late") }
        XCTAssertEqual(after, .closed)
        XCTAssertEqual(socket.bufferedAmount, 0)
    }

    func test_slowConsumer_receivesWholeFramesThenClose1008_whenItResumesReading() async throws {
        let maxBuffered = 64 * 1024
        let sockets = Inbox<WebSocket>()
        let server = try startServer(configure: {
            $0.webSocket.maxBufferedBytes = maxBuffered
            $0.webSocket.closeTimeout = .seconds(1)  // ample time for the peer to read the close frame
        }) { socket, _ in sockets.put(socket) }
        let raw = try RawClient(port: server.port, receiveBuffer: 4096)
        defer { raw.close() }
        try raw.upgrade()
        let socket = try await sockets.expectNext("onConnection")

        let message = testPattern(count: 16 * 1024 + 7)  // not a divisor of any buffer size
        var result = WebSocket.SendResult.enqueued
        var sends = 0
        while result != .closed && sends < 10_000 {
            sends += 1
            result = await runOnLoop(of: socket) { socket.send(binary: message) }
        }
        XCTAssertEqual(result, .closed)

        // Now read everything: complete frames of the message, then a close frame with 1008.
        var frames = 0
        while let frame = raw.readFrame() {
            if frame.opcode == Opcode.close.rawValue {
                XCTAssertEqual(frame.closeCode, CloseCode.policyViolation.rawValue, "reason: \(frame.closeReason)")
                XCTAssertLessThan(frames, sends, "more frames than were accepted")
                return
            }
            frames += 1
            guard frame.opcode == Opcode.binary.rawValue, frame.fin, frame.rsv == 0, frame.payload == message else {
                return XCTFail("frame \(frames) is corrupt: \(frame) (a partly written frame was cut off when the queue was discarded?)")
            }
        }
        let rest = raw.readToEnd()
        let hex = { (bytes: ArraySlice<UInt8>) in bytes.map { String($0, radix: 16) }.joined(separator: " ") }
        XCTFail("no close frame after \(frames) complete data frames; then \(rest.bytes.count) bytes of an unfinished frame "
            + "(starting \(hex(rest.bytes.prefix(4))), ending \(hex(rest.bytes.suffix(19)))), then \(rest.end): "
            + "a partly written frame was cut off when the queue was discarded")
    }

    func test_slowConsumer_boundsQueuedPongs_whenPeerFloodsPingsWithoutReading() async throws {
        enum Outcome: Sendable { case buffered(Int), closed(CloseCode) }
        let maxBuffered = 64 * 1024
        let outcomes = Inbox<Outcome>()
        let server = try startServer(configure: {
            $0.webSocket.maxBufferedBytes = maxBuffered
            $0.webSocket.closeTimeout = .milliseconds(300)
        }) { socket, _ in
            socket.onMessage { socket, _ in outcomes.put(.buffered(socket.bufferedAmount)) }
            socket.onClose { _, code, _ in outcomes.put(.closed(code)) }
        }
        let raw = try RawClient(port: server.port, receiveBuffer: 4096)
        defer { raw.close() }
        try raw.upgrade()  // then never read again
        // 4 MiB of pongs owed to a peer that reads nothing.
        let ping = FrameEncoder.frame(opcode: .ping, payload: [UInt8](repeating: 0x70, count: 125), maskKey: RawClient.maskKey)
        let batch = Array([[UInt8]](repeating: ping, count: 256).joined())
        do {
            for _ in 0..<128 { try raw.send(batch) }
            // Frames are handled in order: when this message arrives, every pong has been queued.
            try raw.sendFrame(.text, Array("done".utf8))
        } catch {
            // The server closed the connection while the pings were being sent: bounded.
        }
        switch try await outcomes.expectNext("the marker message or the close") {
        case .buffered(let amount):
            XCTAssertLessThanOrEqual(amount, maxBuffered,
                                     "pongs owed to a peer that never reads grew the send queue past maxBufferedBytes")
        case .closed:
            break
        }
    }

    func test_volatileSend_isEnqueued_whenSocketIsWritable() async throws {
        let sockets = Inbox<WebSocket>()
        let server = try startServer { socket, _ in sockets.put(socket) }
        let client = try await connectClient(to: server.url())
        let socket = try await sockets.expectNext("onConnection")
        let result = await runOnLoop(of: socket) { socket.send(EncodedFrame(text: "tick"), volatile: true) }
        XCTAssertEqual(result, .enqueued)
        let received = try await client.messages.expectNext("the volatile frame")
        XCTAssertEqual(received, .text("tick"))
    }

    // MARK: Broadcast

    func test_broadcast_reachesEveryClientExactlyOnce_with50Clients() async throws {
        let clientCount = 50
        let serverSockets = Locked<[WebSocket]>([])
        let server = try startServer { socket, _ in serverSockets.withLock { $0.append(socket) } }

        let received = Locked<[Int: [WebSocketMessage]]>([:])
        let done = expectation(description: "every client got the end marker")
        done.expectedFulfillmentCount = clientCount
        var clients: [WebSocket] = []
        for index in 0..<clientCount {
            let client = try await WebSocketClient.connect(to: server.url()) { socket in
                socket.onMessage { _, message in
                    received.withLock { $0[index, default: []].append(message) }
                    if message == .text("end") { done.fulfill() }
                }
            }
            clients.append(client)
        }
        // onConnection runs before the 101 is written, so every server socket is known by now.
        let targets = serverSockets.value
        XCTAssertEqual(targets.count, clientCount)

        let small = EncodedFrame(text: "news")
        let large = EncodedFrame(binary: testPattern(count: 4000))  // above the copy threshold: shared bytes
        let end = EncodedFrame(text: "end")
        for socket in targets {
            socket.send(small)
            socket.send(large)
            socket.send(end)
        }
        await fulfillment(of: [done], timeout: 10)

        let expected: [WebSocketMessage] = [.text("news"), .binary(testPattern(count: 4000)), .text("end")]
        let all = received.value
        XCTAssertEqual(all.count, clientCount)
        for index in 0..<clientCount {
            let messages = all[index] ?? []
            XCTAssertTrue(messages == expected, "client \(index) received \(messages.map(\.summary))")
        }
        for client in clients { client.close() }
    }

    // MARK: Shutdown

    func test_shutdown_closesEveryClientWith1001_withinGracePeriod() async throws {
        let server = try startEchoServer()
        var clients: [ClientProbe] = []
        for _ in 0..<3 { clients.append(try await connectClient(to: server.url())) }
        XCTAssertEqual(server.server.connectionCount, 3)

        let start = ContinuousClock.now
        await server.server.shutdown(gracePeriod: .seconds(2))
        XCTAssertLessThan(secondsSince(start), 1.9, "clients that answer the close must not hold shutdown to its grace period")
        for (index, client) in clients.enumerated() {
            let close = try await client.closes.expectNext("client \(index)'s onClose")
            XCTAssertEqual(close.code, .goingAway, "client \(index)")
            XCTAssertEqual(close.reason, "server shutting down")
        }
        XCTAssertEqual(server.server.connectionCount, 0)
    }

    func test_shutdown_stopsAccepting_afterItReturns() async throws {
        let server = try startEchoServer()
        await server.server.shutdown(gracePeriod: .milliseconds(100))
        do {
            _ = try await WebSocketClient.connect(to: server.url())
            XCTFail("connected to a server that was shut down")
        } catch let error as WebSocketError {
            guard case .connectFailed = error else { return XCTFail("expected connectFailed, got \(error)") }
        }
    }

    func test_shutdown_dropsClientsThatNeverAnswer_afterGracePeriod() async throws {
        let server = try startEchoServer()
        let raw = try RawClient(port: server.port)
        defer { raw.close() }
        try raw.upgrade()
        let start = ContinuousClock.now
        await server.server.shutdown(gracePeriod: .milliseconds(300))
        let elapsed = secondsSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.25, "shutdown did not wait for the silent client")
        XCTAssertLessThan(elapsed, 2)
        let close = try XCTUnwrap(raw.readCloseFrame(), "no close frame")
        XCTAssertEqual(close.closeCode, CloseCode.goingAway.rawValue)
        XCTAssertTrue(raw.awaitEOF())
    }
}
