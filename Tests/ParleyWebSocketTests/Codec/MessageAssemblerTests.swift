import XCTest
@testable import ParleyWebSocket

final class MessageAssemblerTests: XCTestCase {
    private let hello = Array("Hello".utf8)

    // MARK: - RFC 6455 5.7 examples through FrameParser + MessageAssembler

    func test_messageAssembler_assemblesRFCFragmentedHello_atEverySplit() {
        assertEventsAtEverySplit(bytes("01 03 48 65 6c  80 02 6c 6f"), expectMasked: false, expected: [.message(.text("Hello"))])
    }

    func test_messageAssembler_deliversRFCSingleFrames_asMessagesAndControlEvents() {
        assertEventsAtEverySplit(bytes("81 05 48 65 6c 6c 6f  89 05 48 65 6c 6c 6f"), expectMasked: false,
                                 expected: [.message(.text("Hello")), .ping(hello)])
        assertEventsAtEverySplit(bytes("81 85 37 fa 21 3d 7f 9f 4d 51 58  8a 85 37 fa 21 3d 7f 9f 4d 51 58"), expectMasked: true,
                                 expected: [.message(.text("Hello")), .pong(hello)])
    }

    func test_messageAssembler_assemblesRFC256ByteBinary() {
        let payload = patternPayload(count: 256)
        assertEventsAtEverySplit(bytes("82 7E 01 00") + payload, expectMasked: false, expected: [.message(.binary(payload))])
    }

    // MARK: - Messages

    func test_messageAssembler_deliversInterleavedControlFrames_inOrder() {
        let input = bytes("01 03 48 65 6c") + bytes("89 02 68 69") + bytes("8A 00") + bytes("00 00") + bytes("88 02 03 E8")
            + bytes("80 02 6c 6f")
        assertEventsAtEverySplit(input, expectMasked: false, expected: [
            .ping(Array("hi".utf8)), .pong([]), .close(code: .normalClosure, reason: ""), .message(.text("Hello")),
        ])
    }

    func test_messageAssembler_assemblesCharacterSplitAcrossFragments() {
        // "€" is E2 82 AC; each byte travels in its own fragment, with a ping in between.
        let input = bytes("01 01 E2  89 00  00 01 82  80 01 AC")
        assertEventsAtEverySplit(input, expectMasked: false, expected: [.ping([]), .message(.text("€"))])
    }

    func test_messageAssembler_assemblesFragmentedBinary_andTracksBufferedBytes() throws {
        var assembler = MessageAssembler(maxMessageSize: 100)
        XCTAssertNil(try receive(&assembler, fin: false, .binary, [1, 2]))
        XCTAssertEqual(assembler.bufferedByteCount, 2)
        XCTAssertNil(try receive(&assembler, fin: false, .continuation, []))
        XCTAssertNil(try receive(&assembler, fin: false, .continuation, [3]))
        XCTAssertEqual(assembler.bufferedByteCount, 3)
        XCTAssertEqual(try receive(&assembler, .continuation, [0xFF, 0xC0]), .message(.binary([1, 2, 3, 0xFF, 0xC0])))
        XCTAssertEqual(assembler.bufferedByteCount, 0)
    }

    func test_messageAssembler_handsMessagesAsBytesOnce_andControlFramesAsEvents() throws {
        var assembler = MessageAssembler(maxMessageSize: 100)
        var messages: [(opcode: Opcode, bytes: [UInt8])] = []
        func feed(fin: Bool = true, _ opcode: Opcode, _ payload: [UInt8]) throws -> MessageAssembler.Event? {
            try payload.withUnsafeBytes { buffer in
                try assembler.receive(Frame(fin: fin, opcode: opcode, payload: buffer)) { messages.append(($0, Array($1))) }
            }
        }
        XCTAssertNil(try feed(.text, Array("hi".utf8)))
        XCTAssertNil(try feed(fin: false, .text, [0xE2]))
        XCTAssertEqual(try feed(.ping, [1]), .ping([1]))
        XCTAssertNil(try feed(.continuation, [0x82, 0xAC]))
        XCTAssertNil(try feed(.binary, [0xFF]))
        XCTAssertEqual(messages.map(\.opcode), [.text, .text, .binary])
        XCTAssertEqual(messages.map(\.bytes), [Array("hi".utf8), [0xE2, 0x82, 0xAC], [0xFF]])
        // RFC 6455 8.1: invalid UTF-8 fails the frame and never reaches the callback.
        XCTAssertThrowsError(try feed(.text, [0xC0, 0x80])) { XCTAssertEqual($0 as? WebSocketError, .invalidUTF8) }
        XCTAssertEqual(messages.count, 3)
    }

    func test_messageAssembler_resetsBetweenFragmentedMessages() throws {
        var assembler = MessageAssembler(maxMessageSize: 6)
        XCTAssertNil(try receive(&assembler, fin: false, .text, Array("abc".utf8)))
        XCTAssertEqual(try receive(&assembler, .continuation, Array("def".utf8)), .message(.text("abcdef")))
        // The size, opcode and UTF-8 state start over: 6 more bytes, binary, not UTF-8.
        XCTAssertNil(try receive(&assembler, fin: false, .binary, [0xFF, 0xFE, 0xE2]))
        XCTAssertEqual(try receive(&assembler, .continuation, [0x80, 0xC0, 0x00]), .message(.binary([0xFF, 0xFE, 0xE2, 0x80, 0xC0, 0x00])))
        XCTAssertNil(try receive(&assembler, fin: false, .text, [0xE2, 0x82]))
        XCTAssertEqual(try receive(&assembler, .continuation, [0xAC]), .message(.text("€")))
    }

    func test_messageAssembler_acceptsEmptyMessagesAndFragments() throws {
        var assembler = MessageAssembler(maxMessageSize: 10)
        XCTAssertEqual(try receive(&assembler, .text, []), .message(.text("")))
        XCTAssertEqual(try receive(&assembler, .binary, []), .message(.binary([])))
        XCTAssertNil(try receive(&assembler, fin: false, .text, []))
        XCTAssertEqual(try receive(&assembler, .continuation, []), .message(.text("")))
    }

    func test_messageAssembler_acceptsMessageOfExactlyMaxMessageSize() throws {
        var assembler = MessageAssembler(maxMessageSize: 10)
        XCTAssertNil(try receive(&assembler, fin: false, .text, Array("01234".utf8)))
        XCTAssertEqual(try receive(&assembler, .continuation, Array("56789".utf8)), .message(.text("0123456789")))
        XCTAssertEqual(try receive(&assembler, .binary, patternPayload(count: 10)), .message(.binary(patternPayload(count: 10))))
    }

    // MARK: - Close frames (RFC 6455 5.5.1, 7.4)

    func test_messageAssembler_decodesEmptyClose_withoutCode() throws {
        var assembler = MessageAssembler(maxMessageSize: 10)
        XCTAssertEqual(try receive(&assembler, .close, []), .close(code: nil, reason: ""))
    }

    func test_messageAssembler_decodesCloseCodeAndReason() throws {
        var assembler = MessageAssembler(maxMessageSize: 10)
        XCTAssertEqual(try receive(&assembler, .close, bytes("03 E9") + Array("bye ✓".utf8)), .close(code: .goingAway, reason: "bye ✓"))
    }

    func test_messageAssembler_acceptsValidCloseCodes() throws {
        for code: UInt16 in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999] {
            var assembler = MessageAssembler(maxMessageSize: 10)
            XCTAssertEqual(try receive(&assembler, .close, [UInt8(code >> 8), UInt8(code & 0xFF)]), .close(code: CloseCode(code), reason: ""),
                           "code \(code)")
        }
    }

    func test_messageAssembler_rejectsInvalidCloseCodes_withProtocolError() {
        for code: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535] {
            var assembler = MessageAssembler(maxMessageSize: 10)
            assertThrows(.protocolViolation("invalid close code \(code)"), closeCode: 1002,
                         try receive(&assembler, .close, [UInt8(code >> 8), UInt8(code & 0xFF)]))
        }
    }

    func test_messageAssembler_rejectsClosePayloadOf1Byte_withProtocolError() {
        var assembler = MessageAssembler(maxMessageSize: 10)
        assertThrows(.protocolViolation("close payload of 1 byte"), closeCode: 1002, try receive(&assembler, .close, [0x03]))
    }

    func test_messageAssembler_rejectsCloseReasonInvalidUTF8_withInvalidPayload() {
        var assembler = MessageAssembler(maxMessageSize: 10)
        assertThrows(.invalidUTF8, closeCode: 1007, try receive(&assembler, .close, bytes("03 E8 61 FF")))
        var cut = MessageAssembler(maxMessageSize: 10)
        assertThrows(.invalidUTF8, closeCode: 1007, try receive(&cut, .close, bytes("03 E8 61 E2 82")))
    }

    // MARK: - Rejections across frames (RFC 6455 5.4, 8.1)

    func test_messageAssembler_rejectsContinuationWithoutMessage_withProtocolError() throws {
        var assembler = MessageAssembler(maxMessageSize: 10)
        assertThrows(.protocolViolation("continuation frame without a message"), closeCode: 1002,
                     try receive(&assembler, .continuation, Array("lo".utf8)))
        // Also right after a fragmented message has completed.
        var after = MessageAssembler(maxMessageSize: 10)
        XCTAssertNil(try receive(&after, fin: false, .text, Array("Hel".utf8)))
        XCTAssertEqual(try receive(&after, .continuation, Array("lo".utf8)), .message(.text("Hello")))
        assertThrows(.protocolViolation("continuation frame without a message"), closeCode: 1002,
                     try receive(&after, fin: false, .continuation, []))
    }

    func test_messageAssembler_rejectsNewDataFrameInsideFragmentedMessage_withProtocolError() throws {
        for (fin, opcode) in [(true, Opcode.text), (false, .text), (true, .binary), (false, .binary)] {
            var assembler = MessageAssembler(maxMessageSize: 10)
            XCTAssertNil(try receive(&assembler, fin: false, .text, Array("Hel".utf8)))
            assertThrows(.protocolViolation("new data frame inside a fragmented message"), closeCode: 1002,
                         try receive(&assembler, fin: fin, opcode, Array("lo".utf8)))
        }
    }

    func test_messageAssembler_rejectsFragmentedMessageOverMaxMessageSize_withMessageTooBig() throws {
        var assembler = MessageAssembler(maxMessageSize: 10)
        XCTAssertNil(try receive(&assembler, fin: false, .binary, patternPayload(count: 6)))
        XCTAssertNil(try receive(&assembler, fin: false, .continuation, patternPayload(count: 4)))
        // The next byte crosses the limit, before the final fragment arrives.
        assertThrows(.messageTooBig(limit: 10), closeCode: 1009, try receive(&assembler, fin: false, .continuation, [0]))
    }

    func test_messageAssembler_rejectsFragmentedMessageOverMaxMessageSize_throughParser() {
        let input = bytes("01 06 61 62 63 64 65 66  80 05 67 68 69 6A 6B")
        assertThrows(.messageTooBig(limit: 10), closeCode: 1009, try parseEvents([input], expectMasked: false, maxMessageSize: 10))
    }

    func test_messageAssembler_rejectsSingleFrameOverMaxMessageSize_withMessageTooBig() {
        var text = MessageAssembler(maxMessageSize: 10)
        assertThrows(.messageTooBig(limit: 10), closeCode: 1009, try receive(&text, .text, Array("0123456789A".utf8)))
        var binary = MessageAssembler(maxMessageSize: 10)
        assertThrows(.messageTooBig(limit: 10), closeCode: 1009, try receive(&binary, .binary, patternPayload(count: 11)))
    }

    func test_messageAssembler_rejectsInvalidUTF8InSingleTextFrame_withInvalidPayload() {
        for payload in [bytes("C3 28"), bytes("48 65 FF"), bytes("ED A0 80"), bytes("C0 80"), bytes("F4 90 80 80")] {
            var assembler = MessageAssembler(maxMessageSize: 10)
            assertThrows(.invalidUTF8, closeCode: 1007, try receive(&assembler, .text, payload))
        }
        assertThrows(.invalidUTF8, closeCode: 1007, try parseEvents([bytes("81 02 C3 28")], expectMasked: false))
    }

    func test_messageAssembler_rejectsInvalidUTF8InFirstFragment_beforeMessageCompletes() throws {
        // Fail fast: the first, non-final fragment already cannot be valid UTF-8.
        var assembler = MessageAssembler(maxMessageSize: 100)
        assertThrows(.invalidUTF8, closeCode: 1007, try receive(&assembler, fin: false, .text, bytes("48 65 FF")))
        // Through the parser: only the first fragment is ever fed.
        assertThrows(.invalidUTF8, closeCode: 1007, try parseEvents([bytes("01 03 48 C0 AF")], expectMasked: false))
    }

    func test_messageAssembler_rejectsInvalidUTF8InMiddleFragment_beforeMessageCompletes() throws {
        // A surrogate (ED A0 80) split over two fragments fails on the fragment holding A0.
        var assembler = MessageAssembler(maxMessageSize: 100)
        XCTAssertNil(try receive(&assembler, fin: false, .text, bytes("61 ED")))
        assertThrows(.invalidUTF8, closeCode: 1007, try receive(&assembler, fin: false, .continuation, bytes("A0 80")))
    }

    func test_messageAssembler_rejectsTextEndingMidCharacter_withInvalidPayload() throws {
        var fragmented = MessageAssembler(maxMessageSize: 100)
        XCTAssertNil(try receive(&fragmented, fin: false, .text, bytes("48 E2")))
        assertThrows(.invalidUTF8, closeCode: 1007, try receive(&fragmented, .continuation, bytes("82")))
        var single = MessageAssembler(maxMessageSize: 100)
        assertThrows(.invalidUTF8, closeCode: 1007, try receive(&single, .text, bytes("48 F0 9F 8E")))
        assertThrows(.invalidUTF8, closeCode: 1007,
                     try parseEvents([bytes("01 02 48 E2  80 01 82")], expectMasked: false))
    }
}
