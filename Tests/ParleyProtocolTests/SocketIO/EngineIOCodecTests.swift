import XCTest
@testable import ParleyProtocol

final class EngineIOCodecTests: XCTestCase {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func test_engineIOCodec_decodesEveryTextPacketType() throws {
        XCTAssertEqual(try EngineIOCodec.decode(text: bytes(#"0{"sid":"a"}"#)), .open(try RawJSON(json: #"{"sid":"a"}"#)))
        XCTAssertEqual(try EngineIOCodec.decode(text: bytes("1")), .close)
        XCTAssertEqual(try EngineIOCodec.decode(text: bytes("2")), .ping([]))
        XCTAssertEqual(try EngineIOCodec.decode(text: bytes("2probe")), .ping(bytes("probe")))
        XCTAssertEqual(try EngineIOCodec.decode(text: bytes("3probe")), .pong(bytes("probe")))
        XCTAssertEqual(try EngineIOCodec.decode(text: bytes("4hello é")), .message(bytes("hello é")))
        XCTAssertEqual(try EngineIOCodec.decode(text: bytes("4")), .message([]))
        XCTAssertEqual(try EngineIOCodec.decode(text: bytes("5")), .upgrade)
        XCTAssertEqual(try EngineIOCodec.decode(text: bytes("6")), .noop)
    }

    func test_engineIOCodec_refusesEmptyUnknownAndBadOpen_withInvalidPacket() {
        for text in ["", "7", "x", "b", "0", "0[1]", "0{bad"] {
            XCTAssertThrowsError(try EngineIOCodec.decode(text: bytes(text)), text) { error in
                guard case SocketIOError.invalidEngineIOPacket = error else { return XCTFail("\(text): \(error)") }
            }
        }
    }

    func test_engineIOCodec_encodesPackets_asTheProtocolShowsThem() throws {
        XCTAssertEqual(EngineIOCodec.encode(.ping(bytes("probe"))), bytes("2probe"))
        XCTAssertEqual(EngineIOCodec.encode(.pong([])), bytes("3"))
        XCTAssertEqual(EngineIOCodec.encode(.message(bytes("hi"))), bytes("4hi"))
        XCTAssertEqual(EngineIOCodec.encode(.close), bytes("1"))
        XCTAssertEqual(EngineIOCodec.encode(.upgrade), bytes("5"))
        XCTAssertEqual(EngineIOCodec.encode(.noop), bytes("6"))
        XCTAssertEqual(EngineIOCodec.encode(.open(try RawJSON(json: #"{"sid":"x"}"#))), bytes(#"0{"sid":"x"}"#))
        XCTAssertEqual(EngineIOCodec.encode(.binary([1, 2, 3, 4])), bytes("bAQIDBA=="))
    }

    // engine.io-protocol v4, "HTTP long-polling": packets joined by the record separator.
    func test_engineIOCodec_decodesPayload_fromTheProtocolExample() throws {
        let body = bytes("4hello\u{1E}2\u{1E}4€\u{1E}bAQIDBA==")
        XCTAssertEqual(try EngineIOCodec.decodePayload(body),
                       [.message(bytes("hello")), .ping([]), .message(bytes("€")), .binary([1, 2, 3, 4])])
    }

    func test_engineIOCodec_roundTripsPayload() throws {
        let packets: [EngineIOPacket] = [.message(bytes(#"2["a",1]"#)), .binary([0, 255]), .noop, .pong(bytes("probe"))]
        let body = EngineIOCodec.encodePayload(packets)
        XCTAssertEqual(body, bytes("42[\"a\",1]\u{1E}bAP8=\u{1E}6\u{1E}3probe"))
        XCTAssertEqual(try EngineIOCodec.decodePayload(body), packets)
    }

    func test_engineIOCodec_refusesBadPayloads() {
        let cases: [[UInt8]] = [[], bytes("4a\u{1E}"), bytes("\u{1E}4a"), bytes("b!!!"), [0x34, 0xFF, 0xFE], bytes("9")]
        for body in cases {
            XCTAssertThrowsError(try EngineIOCodec.decodePayload(body), "\(body)") { error in
                guard case SocketIOError.invalidEngineIOPacket = error else { return XCTFail("\(body): \(error)") }
            }
        }
    }

    func test_engineIOCodec_refusesPayload_withTooManyPackets() {
        let body = EngineIOCodec.encodePayload(Array(repeating: .noop, count: 5))
        XCTAssertEqual(try EngineIOCodec.decodePayload(body, maxPackets: 5).count, 5)
        XCTAssertThrowsError(try EngineIOCodec.decodePayload(body, maxPackets: 4)) { error in
            XCTAssertEqual(error as? SocketIOError, .tooManyPackets(limit: 4))
        }
    }
}
