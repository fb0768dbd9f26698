import Foundation
import XCTest
@testable import ParleyWebSocket

/// Once a connection has sent a close frame, nothing more the peer sends reaches the
/// application (the peer's close frame still completes the closing handshake).
final class CloseSentTests: XCTestCase {
    /// A server that closes with 1003 on a binary message (as the Parley server does) and posts
    /// every text message and its close to the returned inboxes.
    private func startClosingServer() throws -> (server: TestServer, texts: Inbox<String>, closes: Inbox<CloseEvent>) {
        let texts = Inbox<String>()
        let closes = Inbox<CloseEvent>()
        let server = try startServer { socket, _ in
            socket.onMessage { socket, message in
                switch message {
                case .binary: socket.close(code: .unsupportedData, reason: "binary frames are not supported")
                case .text(let text): texts.put(text)
                }
            }
            socket.onClose { _, code, reason in closes.put(CloseEvent(code: code, reason: reason)) }
        }
        return (server, texts, closes)
    }

    func test_server_handlesNoMessage_afterSendingClose1003_whenFramesFollowInTheSameRead() async throws {
        let (server, texts, closes) = try startClosingServer()
        let raw = try RawClient(port: server.port)
        try raw.upgrade()
        var bytes = FrameEncoder.frame(opcode: .text, payload: Array("before".utf8), maskKey: RawClient.maskKey)
        bytes += FrameEncoder.frame(opcode: .binary, payload: [1, 2, 3], maskKey: RawClient.maskKey)
        bytes += FrameEncoder.frame(opcode: .text, payload: Array("after".utf8), maskKey: RawClient.maskKey)
        try raw.send(bytes)
        let close = try XCTUnwrap(raw.readCloseFrame(), "no close frame from the server")
        XCTAssertEqual(close.closeCode, CloseCode.unsupportedData.rawValue)
        try raw.sendFrame(.close, [0x03, 0xEB])
        raw.close()
        let serverClose = try await closes.expectNext("the server's onClose")
        XCTAssertEqual(serverClose.code, .unsupportedData)
        XCTAssertEqual(texts.pending, ["before"], "a message after the close frame was handled")
    }

    func test_server_handlesNoMessage_afterSendingClose_whenFramesArriveBeforeThePeersCloseReply() async throws {
        let (server, texts, closes) = try startClosingServer()
        let raw = try RawClient(port: server.port)
        try raw.upgrade()
        try raw.sendFrame(.binary, [1])
        let close = try XCTUnwrap(raw.readCloseFrame(), "no close frame from the server")
        XCTAssertEqual(close.closeCode, CloseCode.unsupportedData.rawValue)
        // Sent after the server's close frame, before the close reply: never handled.
        try raw.sendFrame(.text, Array("late".utf8))
        try raw.sendFrame(.close, [0x03, 0xEB])
        XCTAssertTrue(raw.awaitEOF(), "the server must close TCP after the closing handshake")
        raw.close()
        let serverClose = try await closes.expectNext("the server's onClose")
        XCTAssertEqual(serverClose.code, .unsupportedData)
        XCTAssertEqual(texts.pending, [], "a message sent after the server's close frame was handled")
    }
}
