import Parley
import XCTest
@testable import ParleyRedisAdapter

/// The message nodes exchange over Redis (Protocol.md, "Scale-out over Redis"), with byte vectors.
final class ClusterMessageTests: XCTestCase {
    private let origin: [UInt8] = Array(1...16)

    /// A message from `origin` in namespace `/`.
    private func message(rooms: Set<String> = [], exceptRooms: Set<String> = [], exceptSocket: String? = nil,
                         flags: BroadcastFlags = [], _ action: ClusterOperation.Action) -> ClusterMessage {
        let selection = BroadcastSelection(namespace: "/", rooms: rooms, exceptRooms: exceptRooms, exceptSocket: exceptSocket)
        return ClusterMessage(origin: origin, operation: ClusterOperation(selection: selection, flags: flags, action: action))
    }

    private func emit(_ text: String) -> ClusterOperation.Action {
        .emit(EncodedEnvelope(unchecked: Array(text.utf8)))
    }

    func test_clusterMessage_encodesDocumentedLayout() throws {
        let message = message(rooms: ["r"], exceptRooms: ["yz", "x"], exceptSocket: "S", flags: .volatile, emit(#"{"event":"e"}"#))
        let bytes = try XCTUnwrap(message.encoded())
        let expected: [UInt8] = [1, 1] + origin + [0]
            + [0, 1, 0, 1, UInt8(ascii: "r")]
            + [0, 2, 0, 1, UInt8(ascii: "x"), 0, 2, UInt8(ascii: "y"), UInt8(ascii: "z")]
            + [0, 1, UInt8(ascii: "S")]
            + Array(#"{"event":"e"}"#.utf8)
        XCTAssertEqual(bytes, expected)
        XCTAssertEqual(try ClusterMessage(decoding: bytes, namespace: "/"), message)
    }

    func test_clusterMessage_carriesArgumentList_inFlagBit1() throws {
        let envelope = EncodedEnvelope(unchecked: Array(#"{"event":"m","data":[1,2]}"#.utf8), spreadsArguments: true)
        let message = message(flags: .volatile, .emit(envelope))
        let bytes = try XCTUnwrap(message.encoded())
        XCTAssertEqual(bytes[1], 3, "volatile (bit 0) and an argument list (bit 1)")
        let decoded = try ClusterMessage(decoding: bytes, namespace: "/")
        XCTAssertEqual(decoded, message)
        guard case .emit(let received) = decoded.operation.action else { return XCTFail("not an emit") }
        XCTAssertTrue(received.spreadsArguments)
        XCTAssertEqual(try XCTUnwrap(self.message(emit("{}")).encoded())[1], 0, "one argument: bit 1 clear")
    }

    func test_clusterMessage_roundTrips_withoutRoomsOrExcludedSocket() throws {
        let envelope = #"{"event":"news","data":{"é":[1,2]}}"#
        let message = message(emit(envelope))
        let bytes = try XCTUnwrap(message.encoded())
        XCTAssertEqual(bytes.count, 2 + 16 + 1 + 2 + 2 + 2 + envelope.utf8.count)
        XCTAssertEqual(try ClusterMessage(decoding: bytes, namespace: "/"), message)
        let unicode = self.message(rooms: ["café", "房间"], exceptSocket: "id-1", emit(""))
        XCTAssertEqual(try ClusterMessage(decoding: try XCTUnwrap(unicode.encoded()), namespace: "/"), unicode)
    }

    func test_clusterMessage_decodesIntoTheChannelsNamespace() throws {
        let bytes = try XCTUnwrap(message(rooms: ["r"], .disconnectSockets).encoded())
        let decoded = try ClusterMessage(decoding: bytes, namespace: "/admin")
        XCTAssertEqual(decoded.operation.selection, BroadcastSelection(namespace: "/admin", rooms: ["r"]))
    }

    func test_clusterMessage_isFrom_comparesOriginOnly() throws {
        let bytes = try XCTUnwrap(message(.emit(EncodedEnvelope(unchecked: [1]))).encoded())
        XCTAssertTrue(ClusterMessage.isFrom(origin, bytes))
        XCTAssertFalse(ClusterMessage.isFrom(Array(repeating: 0, count: 16), bytes))
        XCTAssertFalse(ClusterMessage.isFrom(origin, [1, 0, 1, 2]), "too short to carry an origin")
    }

    func test_clusterMessage_throws_whenTruncatedAtAnyByte() throws {
        for action in [emit(""), .socketsJoin(["a", "bc"]), .socketsLeave(["a"]), .disconnectSockets] {
            let bytes = try XCTUnwrap(message(rooms: ["room"], exceptRooms: ["x"], exceptSocket: "sock", action).encoded())
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try ClusterMessage(decoding: Array(bytes[..<length]), namespace: "/"), "\(action) length \(length)") { error in
                    XCTAssertEqual(error as? ClusterMessage.DecodingError, .truncated)
                }
            }
        }
    }

    func test_clusterMessage_encodesRoomOperations() throws {
        let join = message(.socketsJoin(["a", "bc"]))
        let bytes = try XCTUnwrap(join.encoded())
        XCTAssertEqual(bytes, [1, 0] + origin + [1, 0, 0, 0, 0, 0, 0] + [0, 2, 0, 1, 97, 0, 2, 98, 99])
        XCTAssertEqual(try ClusterMessage(decoding: bytes, namespace: "/"), join)
        let leave = message(rooms: ["r"], .socketsLeave(["a"]))
        XCTAssertEqual(try ClusterMessage(decoding: try XCTUnwrap(leave.encoded()), namespace: "/"), leave)
        let disconnect = message(rooms: ["r"], .disconnectSockets)
        let disconnectBytes = try XCTUnwrap(disconnect.encoded())
        XCTAssertEqual(disconnectBytes, [1, 0] + origin + [3, 0, 1, 0, 1, 114, 0, 0, 0, 0])
        XCTAssertEqual(try ClusterMessage(decoding: disconnectBytes, namespace: "/"), disconnect)
    }

    func test_clusterMessage_throws_forUnknownVersionOrOperation() {
        XCTAssertThrowsError(try ClusterMessage(decoding: [2, 0] + origin + [0, 0, 0, 0, 0, 0, 0], namespace: "/")) { error in
            XCTAssertEqual(error as? ClusterMessage.DecodingError, .unsupportedVersion(2))
        }
        XCTAssertThrowsError(try ClusterMessage(decoding: [1, 0] + origin + [4, 0, 0, 0, 0, 0, 0], namespace: "/")) { error in
            XCTAssertEqual(error as? ClusterMessage.DecodingError, .unknownOperation(4))
        }
    }

    func test_clusterMessage_refusesToEncode_overlongRoomName() {
        let long = String(repeating: "a", count: 70_000)
        XCTAssertNil(message(rooms: [long], emit("")).encoded())
        XCTAssertNil(message(.socketsJoin([long])).encoded())
    }
}
