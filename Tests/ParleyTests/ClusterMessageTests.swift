import XCTest
@testable import Parley

/// The message nodes exchange over Redis (Protocol.md, "Scale-out over Redis"), with byte vectors.
final class ClusterMessageTests: XCTestCase {
    private let origin: [UInt8] = Array(1...16)

    func test_clusterMessage_encodesDocumentedLayout() throws {
        let message = ClusterMessage(origin: origin, rooms: ["r"], exceptRooms: ["x", "yz"], exceptSocket: "S",
                                     isVolatile: true, operation: .emit(envelope: Array(#"{"event":"e"}"#.utf8)))
        let bytes = try XCTUnwrap(message.encoded())
        let expected: [UInt8] = [1, 1] + origin + [0]
            + [0, 1, 0, 1, UInt8(ascii: "r")]
            + [0, 2, 0, 1, UInt8(ascii: "x"), 0, 2, UInt8(ascii: "y"), UInt8(ascii: "z")]
            + [0, 1, UInt8(ascii: "S")]
            + Array(#"{"event":"e"}"#.utf8)
        XCTAssertEqual(bytes, expected)
        XCTAssertEqual(try ClusterMessage(decoding: bytes), message)
    }

    func test_clusterMessage_roundTrips_withoutRoomsOrExcludedSocket() throws {
        let envelope = Array(#"{"event":"news","data":{"é":[1,2]}}"#.utf8)
        let message = ClusterMessage(origin: origin, rooms: [], exceptRooms: [], exceptSocket: nil, isVolatile: false,
                                     operation: .emit(envelope: envelope))
        let bytes = try XCTUnwrap(message.encoded())
        XCTAssertEqual(bytes.count, 2 + 16 + 1 + 2 + 2 + 2 + envelope.count)
        XCTAssertEqual(try ClusterMessage(decoding: bytes), message)
        let unicode = ClusterMessage(origin: origin, rooms: ["café", "房间"], exceptRooms: [], exceptSocket: "id-1", isVolatile: false, operation: .emit(envelope: []))
        XCTAssertEqual(try ClusterMessage(decoding: try XCTUnwrap(unicode.encoded())), unicode)
    }

    func test_clusterMessage_isFrom_comparesOriginOnly() throws {
        let bytes = try XCTUnwrap(ClusterMessage(origin: origin, rooms: [], exceptRooms: [], exceptSocket: nil, isVolatile: false, operation: .emit(envelope: [1])).encoded())
        XCTAssertTrue(ClusterMessage.isFrom(origin, bytes))
        XCTAssertFalse(ClusterMessage.isFrom(Array(repeating: 0, count: 16), bytes))
        XCTAssertFalse(ClusterMessage.isFrom(origin, [1, 0, 1, 2]), "too short to carry an origin")
    }

    func test_clusterMessage_throws_whenTruncatedAtAnyByte() throws {
        for operation in [ClusterMessage.Operation.emit(envelope: []), .join(["a", "bc"]), .leave(["a"]), .disconnect] {
            let bytes = try XCTUnwrap(ClusterMessage(origin: origin, rooms: ["room"], exceptRooms: ["x"], exceptSocket: "sock",
                                                     isVolatile: false, operation: operation).encoded())
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try ClusterMessage(decoding: Array(bytes[..<length])), "\(operation) length \(length)") { error in
                    XCTAssertEqual(error as? ClusterMessage.DecodingError, .truncated)
                }
            }
        }
    }

    func test_clusterMessage_encodesRoomOperations() throws {
        let join = ClusterMessage(origin: origin, rooms: [], exceptRooms: [], exceptSocket: nil, isVolatile: false, operation: .join(["a", "bc"]))
        let bytes = try XCTUnwrap(join.encoded())
        XCTAssertEqual(bytes, [1, 0] + origin + [1, 0, 0, 0, 0, 0, 0] + [0, 2, 0, 1, 97, 0, 2, 98, 99])
        XCTAssertEqual(try ClusterMessage(decoding: bytes), join)
        let leave = ClusterMessage(origin: origin, rooms: ["r"], exceptRooms: [], exceptSocket: nil, isVolatile: false, operation: .leave(["a"]))
        XCTAssertEqual(try ClusterMessage(decoding: try XCTUnwrap(leave.encoded())), leave)
        let disconnect = ClusterMessage(origin: origin, rooms: ["r"], exceptRooms: [], exceptSocket: nil, isVolatile: false, operation: .disconnect)
        let disconnectBytes = try XCTUnwrap(disconnect.encoded())
        XCTAssertEqual(disconnectBytes, [1, 0] + origin + [3, 0, 1, 0, 1, 114, 0, 0, 0, 0])
        XCTAssertEqual(try ClusterMessage(decoding: disconnectBytes), disconnect)
    }

    func test_clusterMessage_throws_forUnknownVersionOrOperation() {
        XCTAssertThrowsError(try ClusterMessage(decoding: [2, 0] + origin + [0, 0, 0, 0, 0, 0, 0])) { error in
            XCTAssertEqual(error as? ClusterMessage.DecodingError, .unsupportedVersion(2))
        }
        XCTAssertThrowsError(try ClusterMessage(decoding: [1, 0] + origin + [4, 0, 0, 0, 0, 0, 0])) { error in
            XCTAssertEqual(error as? ClusterMessage.DecodingError, .unknownOperation(4))
        }
    }

    func test_clusterMessage_refusesToEncode_overlongRoomName() {
        let long = String(repeating: "a", count: 70_000)
        XCTAssertNil(ClusterMessage(origin: origin, rooms: [long], exceptRooms: [], exceptSocket: nil, isVolatile: false, operation: .emit(envelope: [])).encoded())
        XCTAssertNil(ClusterMessage(origin: origin, rooms: [], exceptRooms: [], exceptSocket: nil, isVolatile: false, operation: .join([long])).encoded())
    }
}
