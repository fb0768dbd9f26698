import XCTest
@testable import ParleyProtocol

final class SocketIOCodecTests: XCTestCase {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
    private func raw(_ text: String) -> RawJSON { RawJSON(unchecked: bytes(text)) }
    private func decode(_ text: String) throws -> SocketIOCodec.Decoded { try SocketIOCodec.decode(bytes(text)) }
    private func packet(_ text: String) throws -> SocketIOPacket { try decode(text).packet }
    private func encoded(_ packet: SocketIOPacket) -> String { String(decoding: SocketIOCodec.encode(packet), as: UTF8.self) }

    private func assertInvalid(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(text), text, file: file, line: line) { error in
            guard case SocketIOError.invalidPacket = error else { return XCTFail("\(text): \(error)", file: file, line: line) }
        }
    }

    // MARK: - The examples of socket.io-protocol v5

    func test_socketIOCodec_decodesConnect_withAndWithoutAuth() throws {
        XCTAssertEqual(try packet("0"), .connect(namespace: "/", payload: nil))
        XCTAssertEqual(try packet(#"0{"token":"123"}"#), .connect(namespace: "/", payload: raw(#"{"token":"123"}"#)))
        XCTAssertEqual(try packet(#"0/admin,{"token":"123"}"#), .connect(namespace: "/admin", payload: raw(#"{"token":"123"}"#)))
        XCTAssertEqual(try packet("0/admin,"), .connect(namespace: "/admin", payload: nil))
        XCTAssertEqual(try packet("0/admin"), .connect(namespace: "/admin", payload: nil))
    }

    func test_socketIOCodec_encodesMessage_withOffsetAsLastArgument() {
        let two = EventArguments([RawJSON(unchecked: Array("1".utf8)), RawJSON(unchecked: Array(#""b""#.utf8))])
        XCTAssertEqual(String(decoding: SocketIOCodec.encodeMessage(.event(namespace: "/chat", name: "m", arguments: two, id: nil), offset: "41"), as: UTF8.self),
                       #"42/chat,["m",1,"b","41"]"#)
        XCTAssertEqual(String(decoding: SocketIOCodec.encodeMessage(.event(namespace: "/", name: "m", arguments: EventArguments(), id: nil), offset: "1"), as: UTF8.self),
                       #"42["m","1"]"#)
        XCTAssertEqual(String(decoding: SocketIOCodec.encodeMessage(.ack(namespace: "/", id: 3, arguments: EventArguments()), offset: "9"), as: UTF8.self),
                       "433[]", "acknowledgements carry no offset")
    }

    func test_socketIOCodec_decodesDisconnect() throws {
        XCTAssertEqual(try packet("1"), .disconnect(namespace: "/"))
        XCTAssertEqual(try packet("1/admin,"), .disconnect(namespace: "/admin"))
    }

    func test_socketIOCodec_decodesEvents_withZeroToThreeArguments() throws {
        XCTAssertEqual(try packet(#"2["ping"]"#), .event(namespace: "/", name: "ping", arguments: EventArguments(), id: nil))
        XCTAssertEqual(try packet(#"2["hello",1]"#), .event(namespace: "/", name: "hello", arguments: EventArguments(data: raw("1")), id: nil))
        let two = try packet(#"2/admin,456["project:delete",123, {"a" : [1]}]"#)
        guard case .event("/admin", "project:delete", let arguments, 456) = two else { return XCTFail("\(two)") }
        XCTAssertEqual(arguments.count, 2)
        XCTAssertEqual(arguments.data, raw(#"[123, {"a" : [1]}]"#))
        XCTAssertEqual(arguments[0], raw("123"))
        XCTAssertEqual(arguments[1], raw(#"{"a" : [1]}"#))
        XCTAssertNil(arguments[2])
        let three = try packet(#"2["e","x",null,[true]]"#)
        guard case .event(_, "e", let three, nil) = three else { return XCTFail() }
        XCTAssertEqual(three.count, 3)
        XCTAssertEqual(three[2], raw("[true]"))
        XCTAssertEqual(three.array, raw(#"["x",null,[true]]"#))
    }

    func test_socketIOCodec_keepsSingleArgument_asTheExactBytesSent() throws {
        guard case .event(_, _, let arguments, _) = try packet(#"2["chat", {"text" : "hé\u00e9"} ]"#) else { return XCTFail() }
        XCTAssertEqual(arguments.data, raw(#"{"text" : "hé\u00e9"}"#))
    }

    func test_socketIOCodec_decodesAcks() throws {
        XCTAssertEqual(try packet("3/admin,456[]"), .ack(namespace: "/admin", id: 456, arguments: EventArguments()))
        XCTAssertEqual(try packet(#"312["ok"]"#), .ack(namespace: "/", id: 12, arguments: EventArguments(data: raw(#""ok""#))))
    }

    func test_socketIOCodec_decodesConnectError_objectOrString() throws {
        XCTAssertEqual(try packet(#"4{"message":"Not authorized"}"#), .connectError(namespace: "/", payload: raw(#"{"message":"Not authorized"}"#)))
        XCTAssertEqual(try packet(#"4/admin,"nope""#), .connectError(namespace: "/admin", payload: raw(#"{"message":"nope"}"#)))
    }

    func test_socketIOCodec_decodesBinaryEvent_withAttachmentsCount() throws {
        let decoded = try decode(#"51-["hello",{"_placeholder":true,"num":0}]"#)
        XCTAssertEqual(decoded.attachments, 1)
        XCTAssertEqual(decoded.packet, .event(namespace: "/", name: "hello", arguments: EventArguments(data: raw(#"{"_placeholder":true,"num":0}"#)), id: nil))
        let ack = try decode(#"62-/admin,456[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        XCTAssertEqual(ack.attachments, 2)
        guard case .ack("/admin", 456, let arguments) = ack.packet else { return XCTFail("\(ack)") }
        XCTAssertEqual(arguments.count, 2)
    }

    func test_socketIOCodec_refusesMalformedPackets() {
        for text in ["", "7", "x", "2", "2[]", "2[1]", "2{}", #"2["a""#, #"2["a",]"#, #"2["a"]x"#, "3[]", "3x[]",
                     #"5-["a"]"#, #"5x-["a"]"#, #"51["a"]"#, "1x", "0[1]", "0/admin,x", "4", "4[1]",
                     #"212345678901234567["a"]"#, "0/a,{\"x\":\u{1}}"] {
            assertInvalid(text)
        }
    }

    func test_socketIOCodec_refusesIDAbove2pow53() throws {
        XCTAssertNoThrow(try decode(#"29007199254740991["a"]"#))
        assertInvalid(#"29007199254740992["a"]"#)
    }

    func test_socketIOCodec_refusesTooManyAttachments() {
        XCTAssertThrowsError(try SocketIOCodec.decode(bytes(#"511-["a"]"#), maxAttachments: 10)) { error in
            XCTAssertEqual(error as? SocketIOError, .tooManyAttachments(limit: 10))
        }
        assertInvalid(#"512345-["a"]"#)
    }

    // MARK: - Encoding

    func test_socketIOCodec_encodesPackets_asTheProtocolShowsThem() {
        XCTAssertEqual(encoded(.connect(namespace: "/", payload: raw(#"{"sid":"abc"}"#))), #"0{"sid":"abc"}"#)
        XCTAssertEqual(encoded(.connect(namespace: "/admin", payload: raw(#"{"sid":"abc"}"#))), #"0/admin,{"sid":"abc"}"#)
        XCTAssertEqual(encoded(.disconnect(namespace: "/admin")), "1/admin,")
        XCTAssertEqual(encoded(.disconnect(namespace: "/")), "1")
        XCTAssertEqual(encoded(.event(namespace: "/", name: "hello", arguments: EventArguments(data: raw("1")), id: nil)), #"2["hello",1]"#)
        XCTAssertEqual(encoded(.event(namespace: "/admin", name: "p", arguments: EventArguments([raw("1"), raw(#""x""#)]), id: 456)), #"2/admin,456["p",1,"x"]"#)
        XCTAssertEqual(encoded(.event(namespace: "/", name: "say \"hi\"", arguments: EventArguments(), id: nil)), #"2["say \"hi\""]"#)
        XCTAssertEqual(encoded(.ack(namespace: "/admin", id: 456, arguments: EventArguments())), "3/admin,456[]")
        XCTAssertEqual(encoded(.ack(namespace: "/", id: 7, arguments: EventArguments(data: raw("3")))), "37[3]")
        XCTAssertEqual(encoded(.connectError(namespace: "/", payload: raw(#"{"message":"no"}"#))), #"4{"message":"no"}"#)
        XCTAssertEqual(encoded(.event(namespace: "/", name: "bin", arguments: EventArguments(binary: [1, 2]), id: nil)),
                       #"51-["bin",{"_placeholder":true,"num":0}]"#)
        XCTAssertEqual(encoded(.ack(namespace: "/x", id: 3, arguments: EventArguments(binary: [1]))),
                       #"61-/x,3[{"_placeholder":true,"num":0}]"#)
        XCTAssertEqual(String(decoding: SocketIOCodec.encodeEvent(namespace: "/", name: "n", data: nil), as: UTF8.self), #"2["n"]"#)
    }

    func test_socketIOCodec_roundTripsEveryKind() throws {
        let packets: [SocketIOPacket] = [
            .connect(namespace: "/chat", payload: raw(#"{"token":"t"}"#)),
            .disconnect(namespace: "/chat"),
            .event(namespace: "/chat", name: "e", arguments: EventArguments([raw("1"), raw("[2]"), raw("{}")]), id: 9),
            .ack(namespace: "/", id: 0, arguments: EventArguments(data: raw("null"))),
            .connectError(namespace: "/chat", payload: raw(#"{"message":"m","data":{"why":1}}"#)),
        ]
        for packet in packets {
            XCTAssertEqual(try SocketIOCodec.decode(SocketIOCodec.encode(packet)).packet, packet, "\(packet)")
        }
    }
}
