import XCTest
@testable import ParleyProtocol

final class SocketIOBinaryAssemblerTests: XCTestCase {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
    private func raw(_ text: String) -> RawJSON { RawJSON(unchecked: bytes(text)) }

    func test_binaryAssembler_passesPlainPackets_throughAtOnce() throws {
        var assembler = SocketIOBinaryAssembler(maxBytes: 100)
        XCTAssertEqual(try assembler.receive(text: bytes(#"2["a",1]"#)), .event(namespace: "/", name: "a", arguments: EventArguments(data: raw("1")), id: nil))
        XCTAssertFalse(assembler.isWaiting)
    }

    func test_binaryAssembler_replacesPlaceholders_withBase64Strings() throws {
        var assembler = SocketIOBinaryAssembler(maxBytes: 100)
        XCTAssertNil(try assembler.receive(text: bytes(#"52-/files,7["up",{"name":"a","body":{"_placeholder":true,"num":1}},[{"num":0,"_placeholder":true}]]"#)))
        XCTAssertTrue(assembler.isWaiting)
        XCTAssertNil(try assembler.receive(binary: [0xDE, 0xAD]))
        let packet = try assembler.receive(binary: [1, 2, 3])
        guard case .event("/files", "up", let arguments, 7)? = packet else { return XCTFail("\(String(describing: packet))") }
        XCTAssertEqual(arguments.count, 2)
        XCTAssertEqual(arguments[0], raw(#"{"name":"a","body":"AQID"}"#))
        XCTAssertEqual(arguments[1], raw(#"["3q0="]"#))
        XCTAssertEqual(try arguments.decode(1, as: [Data].self), [Data([0xDE, 0xAD])])
        XCTAssertFalse(assembler.isWaiting)
        XCTAssertEqual(try assembler.receive(text: bytes(#"2["next"]"#)), .event(namespace: "/", name: "next", arguments: EventArguments(), id: nil))
    }

    func test_binaryAssembler_completesBinaryAck() throws {
        var assembler = SocketIOBinaryAssembler(maxBytes: 100)
        XCTAssertNil(try assembler.receive(text: bytes(#"61-5[{"_placeholder":true,"num":0}]"#)))
        XCTAssertEqual(try assembler.receive(binary: [0xFF]), .ack(namespace: "/", id: 5, arguments: EventArguments(data: raw(#""/w==""#))))
    }

    func test_binaryAssembler_refusesAttachmentWithoutPacket() {
        var assembler = SocketIOBinaryAssembler(maxBytes: 100)
        XCTAssertThrowsError(try assembler.receive(binary: [1])) { XCTAssertEqual($0 as? SocketIOError, .unexpectedAttachment) }
    }

    func test_binaryAssembler_refusesTextPacket_whileAttachmentsAreDue() throws {
        var assembler = SocketIOBinaryAssembler(maxBytes: 100)
        XCTAssertNil(try assembler.receive(text: bytes(#"51-["a",{"_placeholder":true,"num":0}]"#)))
        XCTAssertThrowsError(try assembler.receive(text: bytes(#"2["b"]"#))) { XCTAssertEqual($0 as? SocketIOError, .unexpectedAttachment) }
    }

    func test_binaryAssembler_refusesAttachments_overTheByteBound() throws {
        var assembler = SocketIOBinaryAssembler(maxBytes: 4)
        XCTAssertNil(try assembler.receive(text: bytes(#"52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)))
        XCTAssertNil(try assembler.receive(binary: [1, 2, 3]))
        XCTAssertThrowsError(try assembler.receive(binary: [4, 5])) { XCTAssertEqual($0 as? SocketIOError, .attachmentsTooLarge(limit: 4)) }
    }

    func test_binaryAssembler_refusesAnnouncedCount_overTheAttachmentBound() {
        var assembler = SocketIOBinaryAssembler(maxAttachments: 2, maxBytes: 100)
        XCTAssertThrowsError(try assembler.receive(text: bytes(#"53-["a"]"#))) { XCTAssertEqual($0 as? SocketIOError, .tooManyAttachments(limit: 2)) }
    }

    func test_binaryAssembler_refusesPlaceholder_namingNoAttachment() throws {
        var assembler = SocketIOBinaryAssembler(maxBytes: 100)
        XCTAssertNil(try assembler.receive(text: bytes(#"51-["a",{"_placeholder":true,"num":3}]"#)))
        XCTAssertThrowsError(try assembler.receive(binary: [1])) { error in
            guard case SocketIOError.invalidPacket = error else { return XCTFail("\(error)") }
        }
    }

    func test_eventArguments_resolvingAttachments_givesEnvelopeClientsBase64() throws {
        let arguments = try EventArguments(binary: Array("hello".utf8)).resolvingAttachments()
        XCTAssertEqual(arguments.data, raw(#""aGVsbG8=""#))
        XCTAssertTrue(arguments.attachments.isEmpty)
    }
}
