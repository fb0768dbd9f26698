import Foundation
import XCTest
@testable import ParleyWebSocket

/// The server-wide budget for buffered peer data over real sockets: clients pin partial frames,
/// fragments and unread send queues within their per-connection bounds; once the sum passes the
/// budget, the largest holder is closed with 1013 and the others (and a healthy client) are
/// still served.
final class ServerBufferBudgetTests: XCTestCase {
    /// 2 MiB: a few of the pinned buffers below fit, one more does not.
    private let budget = 2 << 20

    /// A server answering every message with its size as text (so completing a pinned frame
    /// queues a few bytes, not another copy), and `flood:N` with N bytes of 64 KiB binary
    /// messages, queued in one go.
    private func startBudgetServer() throws -> TestServer {
        try startServer(configure: { $0.maxBufferedBytes = budget }) { socket, _ in
            socket.onMessage { socket, message in
                if case .text(let text) = message, text.hasPrefix("flood:"), let total = Int(text.dropFirst(6)) {
                    let block = [UInt8](repeating: 0x2A, count: 64 * 1024)
                    for _ in 0..<(total / block.count) { socket.send(binary: block) }
                    return
                }
                switch message {
                case .text(let text): socket.send(text: String(text.utf8.count))
                case .binary(let bytes): socket.send(text: String(bytes.count))
                }
            }
        }
    }

    /// Waits until the server's buffered bytes reach `bytes` (each client's pinned bytes have
    /// been read), polling its metrics.
    private func waitForBuffered(_ server: TestServer, atLeast bytes: Int, file: StaticString = #filePath, line: UInt = #line) async throws {
        let start = ContinuousClock.now
        while server.server.metrics.bufferedBytes < bytes {
            guard secondsSince(start) < 5 else {
                XCTFail("buffered \(server.server.metrics.bufferedBytes), expected at least \(bytes)", file: file, line: line)
                throw RawSocketError(description: "timed out")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// A client that has upgraded.
    private func upgraded(_ server: TestServer, receiveBuffer: Int32? = nil) throws -> RawClient {
        let client = try RawClient(port: server.port, timeout: .seconds(5), receiveBuffer: receiveBuffer)
        try client.upgrade()
        return client
    }

    /// Sends the first `sent` payload bytes of a binary frame of `length`; returns the rest.
    private func pinPartialFrame(_ client: RawClient, length: Int, sent: Int) throws -> [UInt8] {
        let frame = FrameEncoder.frame(opcode: .binary, fin: true, payload: testPattern(count: length), maskKey: RawClient.maskKey)
        let cut = frame.count - length + sent
        try client.send(Array(frame[..<cut]))
        return Array(frame[cut...])
    }

    /// Sends `count` non-final text fragments of 100,000 bytes.
    private func pinFragments(_ client: RawClient, count: Int) throws {
        let fragment = Array(testText(count: 100_000).utf8)
        for index in 0..<count { try client.sendFrame(index == 0 ? .text : .continuation, fragment, fin: false) }
    }

    /// The size the server answers to a completed message.
    private func expectSizeReply(_ client: RawClient, _ size: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let frame = try XCTUnwrap(client.readFrame(), "no reply: the connection was not served", file: file, line: line)
        XCTAssertEqual(frame.opcode, Opcode.text.rawValue, "\(frame)", file: file, line: line)
        XCTAssertEqual(String(decoding: frame.payload, as: UTF8.self), String(size), file: file, line: line)
    }

    func test_budget_closesLargestPartialFrameHolder_with1013_andServesTheOthers() async throws {
        let server = try startBudgetServer()
        let healthy = try await connectClient(to: server.url())
        let fragments = try upgraded(server)
        try pinFragments(fragments, count: 6)
        let large = try upgraded(server)
        _ = try pinPartialFrame(large, length: 1_000_000, sent: 900_000)
        let small = try upgraded(server)
        let smallRest = try pinPartialFrame(small, length: 200_000, sent: 100_000)
        let pinned = [600_000, 900_014, 100_004].map(BufferBudget.charge(forHeld:)).reduce(0, +)
        try await waitForBuffered(server, atLeast: pinned)
        XCTAssertEqual(server.server.metrics.bufferBudgetCloses, 0, "under the budget nothing is closed")

        // 700 KB more passes 2 MiB: the 900 KB holder goes, not the newcomer nor the others.
        let newcomer = try upgraded(server)
        let newcomerRest = try pinPartialFrame(newcomer, length: 1_000_000, sent: 700_000)
        let close = try XCTUnwrap(large.readCloseFrame(), "the largest holder must be closed")
        XCTAssertEqual(close.closeCode, 1013)
        XCTAssertTrue(large.awaitEOF())
        XCTAssertEqual(server.server.metrics.bufferBudgetCloses, 1)

        try newcomer.send(newcomerRest)
        try expectSizeReply(newcomer, 1_000_000)
        try small.send(smallRest)
        try expectSizeReply(small, 200_000)
        try fragments.sendFrame(.continuation, Array("end".utf8), fin: true)
        try expectSizeReply(fragments, 600_003)
        healthy.socket.send(text: "hello")
        let reply = try await healthy.messages.expectNext("the healthy client's reply")
        XCTAssertEqual(reply, .text("5"))
        XCTAssertEqual(server.server.metrics.bufferBudgetCloses, 1, "only the largest holder was closed")
    }

    func test_budget_closesUnreadSendQueue_with1013_whenItHoldsTheMost() async throws {
        let server = try startBudgetServer()
        let healthy = try await connectClient(to: server.url())
        let fragments = try upgraded(server)
        try pinFragments(fragments, count: 6)
        let partial = try upgraded(server)
        let partialRest = try pinPartialFrame(partial, length: 1_000_000, sent: 500_000)
        try await waitForBuffered(server, atLeast: [600_000, 500_014].map(BufferBudget.charge(forHeld:)).reduce(0, +))

        // A client that asks for 2 MB and does not read: its queue passes the budget.
        let reader = try upgraded(server, receiveBuffer: 4096)
        try reader.sendFrame(.text, Array("flood:2097152".utf8))
        let close = try XCTUnwrap(reader.readCloseFrame(), "the unread queue must be closed")
        XCTAssertEqual(close.closeCode, 1013)
        XCTAssertEqual(close.closeReason, "server buffers full")

        try partial.send(partialRest)
        try expectSizeReply(partial, 1_000_000)
        try fragments.sendFrame(.continuation, Array("end".utf8), fin: true)
        try expectSizeReply(fragments, 600_003)
        healthy.socket.send(text: "hi")
        let reply = try await healthy.messages.expectNext("the healthy client's reply")
        XCTAssertEqual(reply, .text("2"))
        XCTAssertEqual(server.server.metrics.bufferBudgetCloses, 1)
    }

    func test_budget_returnsToZero_whenHoldersLeave() async throws {
        let server = try startBudgetServer()
        let client = try upgraded(server)
        _ = try pinPartialFrame(client, length: 1_000_000, sent: 300_000)
        try await waitForBuffered(server, atLeast: BufferBudget.charge(forHeld: 300_014))
        client.close()
        let start = ContinuousClock.now
        while server.server.metrics.bufferedBytes != 0 && secondsSince(start) < 5 { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(server.server.metrics.bufferedBytes, 0, "a closed connection gives its charge back")
    }
}
