import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Messages sent before `connect` while middleware runs (Protocol.md 5.2): at most
/// ``Socket/maxEarlyMessages`` wait; a client that sends more is closed with 1008 and none of
/// its messages is ever handled, even when middleware accepts it afterwards.
final class EarlyMessagesTests: XCTestCase {
    /// A relay of `broadcast` (as parley-server's) behind a token check; connected socket ids
    /// are posted to `connected`.
    private func startRelay(_ connected: Mailbox<String>, gate: Gate? = nil) throws -> Server {
        let io = try startServer()
        io.use { handshake in
            guard handshake.query["token"] == "tok" else { throw ConnectError("unauthorized") }
            if handshake.query["gated"] != nil { await gate?.wait() }
        }
        io.onConnection { socket in
            connected.put(socket.id)
            socket.on("broadcast") { (data: RawJSON) in try? socket.broadcast.emit("broadcast", data) }
        }
        return io
    }

    /// Reads the sender's frames up to its close frame: no text may come (no `connect`), and
    /// the close must be 1008.
    private func assertClosedWithoutConnect(_ raw: RawClient, file: StaticString = #filePath, line: UInt = #line) {
        while let frame = raw.readFrame() {
            if frame.opcode == 0x8 {
                XCTAssertEqual(frame.payload.prefix(2), [0x03, 0xF0], "close 1008", file: file, line: line)
                XCTAssertEqual(String(decoding: frame.payload.dropFirst(2), as: UTF8.self), "too many messages before connect",
                               file: file, line: line)
                return
            }
            if frame.opcode == 0x1 {
                XCTFail("the sender got a message: \(String(decoding: frame.payload, as: UTF8.self))", file: file, line: line)
            }
        }
        XCTFail("no close frame", file: file, line: line)
    }

    /// A client broadcasts a fence; the observer's next `broadcast` must be it (nothing of the
    /// closed sender came before).
    private func assertNextBroadcastIsFence(_ io: Server, observer: EnvelopeClient,
                                            file: StaticString = #filePath, line: UInt = #line) async throws {
        let fence = try await connectClient(io, query: "token=tok")
        fence.emit("broadcast", #""fence""#)
        let next = try await observer.next(event: "broadcast", file: file, line: line)
        XCTAssertEqual(next.json, #""fence""#, "a message of the closed sender was handled", file: file, line: line)
    }

    func test_earlyMessages_noneHandled_whenUpgradeAnd200FramesArriveInOneWrite() async throws {
        let connected = Mailbox<String>()
        let io = try startRelay(connected)
        let observer = try await connectClient(io, query: "token=tok")
        _ = try await connected.expect("the observer's socket")
        let raw = try RawClient(port: io.port)
        let frames = (0..<200).map { #"{"event":"broadcast","data":\#($0)}"# }
        XCTAssertEqual(try raw.upgrade(target: "/parley?token=tok", thenTextFrames: frames), 101)
        assertClosedWithoutConnect(raw)
        raw.close()
        try await assertNextBroadcastIsFence(io, observer: observer)
        _ = try await connected.expect("the fence's socket")
        XCTAssertEqual(connected.pending, [], "the sender must never reach onConnection")
    }

    func test_earlyMessages_noneHandled_whenMiddlewareAcceptsAfterTheLimitClosedTheConnection() async throws {
        let connected = Mailbox<String>()
        let gate = Gate()
        addTeardownBlock { gate.open() }
        let io = try startRelay(connected, gate: gate)
        let observer = try await connectClient(io, query: "token=tok")
        _ = try await connected.expect("the observer's socket")
        let raw = try RawClient(port: io.port)
        let frames = (0...Socket.maxEarlyMessages).map { #"{"event":"broadcast","data":\#($0)}"# }
        XCTAssertEqual(try raw.upgrade(target: "/parley?token=tok&gated=1", thenTextFrames: frames), 101)
        assertClosedWithoutConnect(raw)
        gate.open()  // middleware accepts now: too late, the connection is closed
        try await assertNextBroadcastIsFence(io, observer: observer)
        _ = try await connected.expect("the fence's socket")
        XCTAssertEqual(connected.pending, [], "the sender must never reach onConnection")
    }

    func test_earlyMessages_handledInOrder_whenWithinTheLimit() async throws {
        let connected = Mailbox<String>()
        let gate = Gate()
        addTeardownBlock { gate.open() }
        let io = try startRelay(connected, gate: gate)
        let observer = try await connectClient(io, query: "token=tok")
        _ = try await connected.expect("the observer's socket")
        let raw = try RawClient(port: io.port)
        let frames = (1...Socket.maxEarlyMessages).map { #"{"event":"broadcast","data":\#($0)}"# }
        XCTAssertEqual(try raw.upgrade(target: "/parley?token=tok&gated=1", thenTextFrames: frames), 101)
        gate.open()
        for expected in 1...Socket.maxEarlyMessages {
            let event = try await observer.next(event: "broadcast")
            XCTAssertEqual(event.json, "\(expected)")
        }
    }
}
