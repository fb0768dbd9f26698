import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Bounds on rooms (Protocol.md 7): room names of the form of a socket id are reserved, names
/// and rooms per socket are bounded (`maxRoomNameBytes`, `maxRoomsPerSocket`), and leaving
/// many rooms is quick.
final class SocketRoomLimitsTests: XCTestCase {
    private func assertThrows(_ expected: ParleyError, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(error as? ParleyError, expected, file: file, line: line)
        }
    }

    func test_join_throwsReservedRoomName_whenRoomIsAnotherLiveSocketsID() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (spy, spySocket) = try await connectPair(io, sockets)
        let (target, targetSocket) = try await connectPair(io, sockets)
        assertThrows(.reservedRoomName(targetSocket.id)) { try spySocket.join(targetSocket.id) }
        XCTAssertEqual(spySocket.rooms, [spySocket.id])
        try io.to(targetSocket.id).emit("private", "psst")
        try io.emit("fence")
        try await target.expectEvents(["private", "fence"])
        try await spy.expectEvents(["fence"])
    }

    func test_hasIDForm_matches22Base64URLCharactersOnly() {
        // Reserved whether or not such a socket is connected (here, or on another node).
        XCTAssertTrue(Socket.hasIDForm(RandomID().description))
        XCTAssertTrue(Socket.hasIDForm("AAAAAAAAAAAAAAAAAAAAAA"))
        XCTAssertFalse(Socket.hasIDForm("AAAAAAAAAAAAAAAAAAAAA"))     // 21 characters
        XCTAssertFalse(Socket.hasIDForm("AAAAAAAAAAAAAAAAAAAAAAA"))   // 23
        XCTAssertFalse(Socket.hasIDForm("AAAAAAAAAAAAAAAAAAAAA+"))    // not base64url
        XCTAssertFalse(Socket.hasIDForm("general"))
    }

    func test_join_ofOwnID_isANoOp() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (_, socket) = try await connectPair(io, sockets)
        try socket.join(socket.id)
        XCTAssertEqual(socket.rooms, [socket.id])
    }

    func test_join_throwsRoomNameTooLong_whenNameExceedsMaxRoomNameBytes() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (_, socket) = try await connectPair(io, sockets)
        let longest = String(repeating: "é", count: 128)  // 256 bytes of UTF-8
        try socket.join(longest)
        assertThrows(.roomNameTooLong(limit: 256)) { try socket.join(longest + "x") }
        assertThrows(.roomNameTooLong(limit: 256)) { try socket.join(["ok", longest + "x"]) }
        XCTAssertEqual(socket.rooms, [socket.id, longest], "a refused join joins none of its rooms")
    }

    func test_join_throwsTooManyRooms_overMaxRoomsPerSocket_andAcceptsAgainAfterLeave() async throws {
        let io = try startServer { $0.maxRoomsPerSocket = 3 }
        let sockets = SocketRegistry(io.main)
        let (_, socket) = try await connectPair(io, sockets)
        try socket.join("a", "b", "c")
        try socket.join("a")  // already in it: no new room
        assertThrows(.tooManyRooms(limit: 3)) { try socket.join("d") }
        socket.leave("a")
        assertThrows(.tooManyRooms(limit: 3)) { try socket.join(["d", "e"]) }
        try socket.join("d")
        XCTAssertEqual(socket.rooms, [socket.id, "b", "c", "d"])
    }

    func test_join_configuredNameLimit_isReportedInTheError() async throws {
        let io = try startServer { $0.maxRoomNameBytes = 4 }
        let sockets = SocketRegistry(io.main)
        let (_, socket) = try await connectPair(io, sockets)
        try socket.join("abcd")
        assertThrows(.roomNameTooLong(limit: 4)) { try socket.join("abcde") }
        XCTAssertEqual(ParleyError.roomNameTooLong(limit: 4).description, "room name over 4 bytes")
        XCTAssertEqual(ParleyError.tooManyRooms(limit: 1000).description, "more than 1000 rooms per socket")
    }

    func test_disconnect_leavesTheMostRoomsOfTheLongestNames_quickly() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        let rooms = (0..<1000).map { String(format: "%04d", $0) + String(repeating: "r", count: 252) }
        try socket.join(rooms)
        assertThrows(.tooManyRooms(limit: 1000)) { try socket.join("one more") }
        let start = ContinuousClock.now
        socket.disconnect()
        XCTAssertLessThan(secondsSince(start), 0.5, "leaving 1,000 rooms of 256 bytes must not stall the loop")
        let close = try await client.closed()
        XCTAssertEqual(close.code, .normalClosure)
    }
}
