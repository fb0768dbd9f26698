import XCTest
@testable import Parley

/// The message nodes exchange over Redis (Protocol.md section 10), with byte vectors.
final class ClusterMessageTests: XCTestCase {
    private let origin: [UInt8] = Array(1...16)

    func test_clusterMessage_encodesDocumentedLayout() throws {
        let message = ClusterMessage(origin: origin, rooms: ["r"], exceptRooms: ["x", "yz"], exceptSocket: "S",
                                     isVolatile: true, envelope: Array(#"{"event":"e"}"#.utf8))
        let bytes = try XCTUnwrap(message.encoded())
        let expected: [UInt8] = [1, 1] + origin
            + [0, 1, 0, 1, UInt8(ascii: "r")]
            + [0, 2, 0, 1, UInt8(ascii: "x"), 0, 2, UInt8(ascii: "y"), UInt8(ascii: "z")]
            + [0, 1, UInt8(ascii: "S")]
            + Array(#"{"event":"e"}"#.utf8)
        XCTAssertEqual(bytes, expected)
        XCTAssertEqual(try ClusterMessage(decoding: bytes), message)
    }

    func test_clusterMessage_roundTrips_withoutRoomsOrExcludedSocket() throws {
        let message = ClusterMessage(origin: origin, rooms: [], exceptRooms: [], exceptSocket: nil, isVolatile: false,
                                     envelope: Array(#"{"event":"news","data":{"é":[1,2]}}"#.utf8))
        let bytes = try XCTUnwrap(message.encoded())
        XCTAssertEqual(bytes.count, 2 + 16 + 2 + 2 + 2 + message.envelope.count)
        XCTAssertEqual(try ClusterMessage(decoding: bytes), message)
        let unicode = ClusterMessage(origin: origin, rooms: ["café", "房间"], exceptRooms: [], exceptSocket: "id-1", isVolatile: false, envelope: [])
        XCTAssertEqual(try ClusterMessage(decoding: try XCTUnwrap(unicode.encoded())), unicode)
    }

    func test_clusterMessage_isFrom_comparesOriginOnly() throws {
        let bytes = try XCTUnwrap(ClusterMessage(origin: origin, rooms: [], exceptRooms: [], exceptSocket: nil, isVolatile: false, envelope: [1]).encoded())
        XCTAssertTrue(ClusterMessage.isFrom(origin, bytes))
        XCTAssertFalse(ClusterMessage.isFrom(Array(repeating: 0, count: 16), bytes))
        XCTAssertFalse(ClusterMessage.isFrom(origin, [1, 0, 1, 2]), "too short to carry an origin")
    }

    func test_clusterMessage_throws_whenTruncatedAtAnyByte() throws {
        let bytes = try XCTUnwrap(ClusterMessage(origin: origin, rooms: ["room"], exceptRooms: ["x"], exceptSocket: "sock",
                                                 isVolatile: false, envelope: []).encoded())
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try ClusterMessage(decoding: Array(bytes[..<length])), "length \(length)") { error in
                XCTAssertEqual(error as? ClusterMessage.DecodingError, .truncated)
            }
        }
    }

    func test_clusterMessage_throws_forUnknownVersion() {
        XCTAssertThrowsError(try ClusterMessage(decoding: [2, 0] + origin + [0, 0, 0, 0, 0, 0])) { error in
            XCTAssertEqual(error as? ClusterMessage.DecodingError, .unsupportedVersion(2))
        }
    }

    func test_clusterMessage_refusesToEncode_overlongRoomName() {
        let long = String(repeating: "a", count: 70_000)
        XCTAssertNil(ClusterMessage(origin: origin, rooms: [long], exceptRooms: [], exceptSocket: nil, isVolatile: false, envelope: []).encoded())
    }
}
