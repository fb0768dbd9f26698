import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// Rooms and broadcast (Protocol.md 7). Each test ends with a fence (`io.emit("fence")`, sent
/// after the emits under test): a client's next events must be exactly the expected ones and
/// then the fence, which shows both "reached" and "reached once", and "not reached".
final class BroadcastOperatorTests: XCTestCase {
    private struct Member {
        let client: EnvelopeClient
        let socket: Socket
    }

    /// A server with `relay` handlers and `count` connected clients.
    private func start(_ count: Int) async throws -> (io: Server, members: [Member]) {
        let io = try startServer()
        io.onConnection { socket in
            socket.on("shout") { (data: RawJSON, ack: Ack) in
                try? socket.broadcast.emit("shout", data)
                ack()
            }
            socket.on("toRoom") { (room: String, ack: Ack) in
                try? socket.to(room).emit("room news", room)
                ack()
            }
            socket.on("exceptRoom") { (room: String, ack: Ack) in
                try? socket.except(room).emit("outside news", room)
                ack()
            }
        }
        let sockets = SocketRegistry(io.main)
        var members: [Member] = []
        for _ in 0..<count {
            let (client, socket) = try await connectPair(io, sockets)
            members.append(Member(client: client, socket: socket))
        }
        return (io, members)
    }

    private func fence(_ io: Server, _ members: [Member], expect expected: [[String]],
                       file: StaticString = #filePath, line: UInt = #line) async throws {
        try io.emit("fence")
        for (member, names) in zip(members, expected) {
            try await member.client.expectEvents(names + ["fence"], file: file, line: line)
        }
    }

    // MARK: Rooms

    func test_rooms_includeOwnId_andFollowJoinAndLeave() async throws {
        let (_, members) = try await start(1)
        let socket = members[0].socket
        XCTAssertEqual(socket.rooms, [socket.id])
        try socket.join("a", "b")
        try socket.join(["b", "c"])
        XCTAssertEqual(socket.rooms, [socket.id, "a", "b", "c"])
        socket.leave("a")
        socket.leave("not joined")
        XCTAssertEqual(socket.rooms, [socket.id, "b", "c"])
    }

    func test_toOwnId_reachesOnlyThatSocket() async throws {
        let (io, members) = try await start(2)
        try io.to(members[1].socket.id).emit("private", "psst")
        try await fence(io, members, expect: [[], ["private"]])
    }

    func test_toSocketID_reachesThatSocketOnly_whenAnotherTriedToJoinItsRoom() async throws {
        let (io, members) = try await start(3)
        XCTAssertThrowsError(try members[0].socket.join(members[1].socket.id))  // reserved: see SocketRoomLimitsTests
        try io.to(members[1].socket.id).emit("named", "hi")
        try members[2].socket.to(members[1].socket.id).emit("named", "hi")
        try await fence(io, members, expect: [[], ["named", "named"], []])
    }

    func test_to_reachesRoomMembersOnly() async throws {
        let (io, members) = try await start(3)
        try members[0].socket.join("r")
        try members[1].socket.join("r")
        try io.to("r").emit("news", Chat(text: "r only", count: 1))
        try await fence(io, members, expect: [["news"], ["news"], []])
    }

    func test_to_reachesUnionOfRooms_once_whenSocketIsInSeveral() async throws {
        let (io, members) = try await start(4)
        try members[0].socket.join("r1", "r2")
        try members[1].socket.join("r1")
        try members[2].socket.join("r2")
        try io.to("r1").to("r2").emit("news")
        try await fence(io, members, expect: [["news"], ["news"], ["news"], []])
    }

    func test_except_leavesOutRoomMembers() async throws {
        let (io, members) = try await start(3)
        try members[0].socket.join("muted")
        try io.except("muted").emit("news")
        try members[1].socket.join("r")
        try members[2].socket.join("r", "muted")
        try io.to("r").except("muted").emit("r news")
        try await fence(io, members, expect: [[], ["news", "r news"], ["news"]])
    }

    func test_broadcastOperator_keepsOriginalSelection_whenToOrExceptDeriveNewOne() async throws {
        let (io, members) = try await start(2)
        try members[0].socket.join("r")
        let everyone = io.main.all
        let roomOnly = everyone.to("r")
        try everyone.emit("everyone")
        try roomOnly.emit("room")
        try everyone.except("r").emit("others")
        try await fence(io, members, expect: [["everyone", "room"], ["everyone", "others"]])
    }

    // MARK: From a socket

    func test_socketBroadcast_reachesEveryoneButSender() async throws {
        let (io, members) = try await start(3)
        members[0].client.emit("shout", #"{"from": 0}"#, id: 1)
        let ack = try await members[0].client.nextAck(id: 1)
        XCTAssertEqual(ack, .ack(id: 1, data: nil))
        try await fence(io, members, expect: [[], ["shout"], ["shout"]])
    }

    func test_socketTo_reachesRoomMembersButSender() async throws {
        let (io, members) = try await start(4)
        for index in 0..<3 { try members[index].socket.join("r") }
        members[0].client.emit("toRoom", #""r""#, id: 1)
        _ = try await members[0].client.nextAck(id: 1)
        try await fence(io, members, expect: [[], ["room news"], ["room news"], []])
    }

    func test_socketExcept_reachesOthersOutsideRoom_butNotSender() async throws {
        let (io, members) = try await start(4)
        try members[1].socket.join("r")
        members[0].client.emit("exceptRoom", #""r""#, id: 1)
        _ = try await members[0].client.nextAck(id: 1)
        try await fence(io, members, expect: [[], [], ["outside news"], ["outside news"]])
    }

    func test_ioEmit_reachesEveryClientOnce() async throws {
        let (io, members) = try await start(5)
        try io.emit("news", "all")
        try await fence(io, members, expect: Array(repeating: ["news"], count: 5))
    }

    func test_volatileEmit_reachesWritableClients() async throws {
        let (io, members) = try await start(2)
        try io.volatile.emit("cursor", [1, 2])
        try await fence(io, members, expect: [["cursor"], ["cursor"]])
    }

    // MARK: Server-side utilities

    func test_fetchSockets_returnsSelectedSockets() async throws {
        let (io, members) = try await start(3)
        try members[1].socket.join("r")
        XCTAssertEqual(Set(io.fetchSockets().map(\.id)), Set(members.map(\.client.id)))
        XCTAssertEqual(io.to("r").fetchSockets().map(\.id), [members[1].client.id])
        XCTAssertEqual(Set(io.except("r").fetchSockets().map(\.id)), [members[0].client.id, members[2].client.id])
        XCTAssertEqual(Set(members[0].socket.broadcast.fetchSockets().map(\.id)), [members[1].client.id, members[2].client.id])
        XCTAssertEqual(io.to("empty").fetchSockets().count, 0)
    }

    func test_socketsJoinAndLeave_changeRoomsOfSelectedSockets() async throws {
        let (io, members) = try await start(3)
        io.socketsJoin("all", "everyone")
        for member in members { XCTAssertEqual(member.socket.rooms, [member.socket.id, "all", "everyone"]) }
        try members[0].socket.join("r")
        io.to("r").socketsJoin("vip")
        XCTAssertEqual(io.to("vip").fetchSockets().map(\.id), [members[0].client.id])
        io.socketsLeave("all")
        io.main.socketsJoin("again")
        io.except("vip").socketsLeave("again")
        XCTAssertEqual(members[0].socket.rooms, [members[0].socket.id, "everyone", "r", "vip", "again"])
        XCTAssertEqual(members[1].socket.rooms, [members[1].socket.id, "everyone"])
        try io.to("again").emit("again news")
        try await fence(io, members, expect: [["again news"], [], []])
    }

    func test_disconnectSockets_disconnectsSelectedSocketsOnly() async throws {
        let (io, members) = try await start(3)
        let gone = Mailbox<String>()
        for member in members {
            member.socket.onDisconnect { gone.put("\(member.socket.id) \($0.rawValue)") }
        }
        try members[0].socket.join("r")
        try members[1].socket.join("r")
        io.to("r").disconnectSockets()
        for member in members[0...1] {
            let disconnect = try await member.client.nextStrict(event: "disconnect")
            XCTAssertEqual(disconnect.json, #"{"reason":"io server disconnect"}"#)
            let close = try await member.client.closed()
            XCTAssertEqual(close.code, .normalClosure)
            let reason = try await gone.expect("onDisconnect") { $0.hasPrefix(member.socket.id) }
            XCTAssertEqual(reason, "\(member.socket.id) server namespace disconnect")
        }
        try await fence(io, [members[2]], expect: [[]])
        XCTAssertEqual(io.fetchSockets().map(\.id), [members[2].client.id])
        XCTAssertEqual(io.to("r").fetchSockets().count, 0)
        io.disconnectSockets()
        let close = try await members[2].client.closed()
        XCTAssertEqual(close.code, .normalClosure)
    }

    func test_leftAndDisconnectedSockets_areNotTargeted() async throws {
        let (io, members) = try await start(3)
        let gone = Mailbox<DisconnectReason>()
        members[2].socket.onDisconnect { gone.put($0) }
        for member in members { try member.socket.join("r") }
        members[0].socket.leave("r")
        members[2].client.close()
        _ = try await gone.expect("onDisconnect")
        XCTAssertEqual(members[2].socket.rooms, [])
        try io.to("r").emit("news")
        try await fence(io, Array(members[0...1]), expect: [[], ["news"]])
    }
}
