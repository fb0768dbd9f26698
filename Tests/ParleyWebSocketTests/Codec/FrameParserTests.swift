import XCTest
@testable import ParleyWebSocket

final class FrameParserTests: XCTestCase {
    private let hello = Array("Hello".utf8)

    // MARK: - RFC 6455 5.7 examples

    func test_frameParser_parsesRFCUnmaskedHello_forClientRole() {
        assertFramesAtEverySplit(bytes("81 05 48 65 6c 6c 6f"), expectMasked: false,
                                 expected: [ParsedFrame(true, .text, hello)])
    }

    func test_frameParser_unmasksRFCMaskedHello_forServerRole() {
        assertFramesAtEverySplit(bytes("81 85 37 fa 21 3d 7f 9f 4d 51 58"), expectMasked: true,
                                 expected: [ParsedFrame(true, .text, hello)])
    }

    func test_frameParser_parsesRFCFragmentedHello_asTwoFrames() {
        assertFramesAtEverySplit(bytes("01 03 48 65 6c  80 02 6c 6f"), expectMasked: false,
                                 expected: [ParsedFrame(false, .text, Array("Hel".utf8)), ParsedFrame(true, .continuation, Array("lo".utf8))])
    }

    func test_frameParser_parsesRFCUnmaskedPing_forClientRole() {
        assertFramesAtEverySplit(bytes("89 05 48 65 6c 6c 6f"), expectMasked: false,
                                 expected: [ParsedFrame(true, .ping, hello)])
    }

    func test_frameParser_unmasksRFCMaskedPong_forServerRole() {
        assertFramesAtEverySplit(bytes("8a 85 37 fa 21 3d 7f 9f 4d 51 58"), expectMasked: true,
                                 expected: [ParsedFrame(true, .pong, hello)])
    }

    func test_frameParser_parsesRFC256ByteBinary_with16BitLength() {
        let payload = patternPayload(count: 256)
        assertFramesAtEverySplit(bytes("82 7E 01 00") + payload, expectMasked: false,
                                 expected: [ParsedFrame(true, .binary, payload)])
    }

    func test_frameParser_parsesRFC64KiBBinary_with64BitLength() {
        let payload = patternPayload(count: 65536)
        assertFramesAtEverySplit(bytes("82 7F 00 00 00 00 00 01 00 00") + payload, expectMasked: false,
                                 expected: [ParsedFrame(true, .binary, payload)])
    }

    // MARK: - Framing

    func test_frameParser_parsesEmptyPayloads_maskedAndUnmasked() {
        assertFramesAtEverySplit(bytes("81 00  82 00  89 00"), expectMasked: false,
                                 expected: [ParsedFrame(true, .text, []), ParsedFrame(true, .binary, []), ParsedFrame(true, .ping, [])])
        assertFramesAtEverySplit(bytes("81 80 01 02 03 04  88 80 05 06 07 08"), expectMasked: true,
                                 expected: [ParsedFrame(true, .text, []), ParsedFrame(true, .close, [])])
    }

    func test_frameParser_deliversSeveralFramesInOrder_fromOneFeed() throws {
        let input = bytes("81 85 37 fa 21 3d 7f 9f 4d 51 58") + bytes("89 80 00 00 00 00")
            + FrameEncoder.frame(opcode: .binary, payload: [1, 2, 3], maskKey: (9, 8, 7, 6))
        let frames = try parseFrames(input, expectMasked: true)
        XCTAssertEqual(frames, [ParsedFrame(true, .text, hello), ParsedFrame(true, .ping, []), ParsedFrame(true, .binary, [1, 2, 3])])
    }

    func test_frameParser_buffersIncompleteFrame_andReleasesItWhenComplete() throws {
        let input = bytes("81 05 48 65 6c 6c 6f  82 02 01 02")
        var parser = FrameParser(expectMasked: false, maxFrameSize: 100)
        var frames: [ParsedFrame] = []
        try feed(&parser, input[..<3], into: &frames)
        XCTAssertEqual(frames, [])
        XCTAssertEqual(parser.bufferedByteCount, 3)
        try feed(&parser, input[3..<9], into: &frames)  // the rest of the first frame and 2 bytes of the second
        XCTAssertEqual(frames, [ParsedFrame(true, .text, hello)])
        XCTAssertEqual(parser.bufferedByteCount, 2)
        try feed(&parser, input[9..<10], into: &frames)
        XCTAssertEqual(parser.bufferedByteCount, 3)
        XCTAssertEqual(frames.count, 1)
        try feed(&parser, input[10...], into: &frames)
        XCTAssertEqual(frames, [ParsedFrame(true, .text, hello), ParsedFrame(true, .binary, [1, 2])])
        XCTAssertEqual(parser.bufferedByteCount, 0)
    }

    func test_frameParser_acceptsFrameOfExactlyMaxFrameSize() {
        let payload = patternPayload(count: 300)
        assertFramesAtEverySplit(FrameEncoder.frame(opcode: .binary, payload: payload), expectMasked: false, maxFrameSize: 300,
                                 expected: [ParsedFrame(true, .binary, payload)])
    }

    func test_frameParser_acceptsControlFrameOf125Bytes() {
        let payload = patternPayload(count: 125)
        assertFramesAtEverySplit(bytes("89 7D") + payload, expectMasked: false, expected: [ParsedFrame(true, .ping, payload)])
    }

    func test_frameParser_propagatesCallbackError() {
        struct Stop: Error {}
        var parser = FrameParser(expectMasked: false, maxFrameSize: 100)
        var input = bytes("81 05 48 65 6c 6c 6f")
        XCTAssertThrowsError(try input.withUnsafeMutableBytes { try parser.parse($0) { _ in throw Stop() } }) { error in
            XCTAssertTrue(error is Stop, "\(error)")
        }
    }

    // MARK: - Rejections (RFC 6455 5.1-5.5)

    func test_frameParser_rejectsRSV1_withProtocolError() {
        assertParseFailsAtEverySplit(bytes("C1 05 48 65 6c 6c 6f"), expectMasked: false,
                                     with: .protocolViolation("reserved bits set without an extension"), closeCode: 1002)
    }

    func test_frameParser_rejectsRSV2AndRSV3_withProtocolError() {
        for first: UInt8 in [0xA1, 0x91, 0xF2] {
            assertParseFailsAtEverySplit([first, 0x00], expectMasked: false,
                                         with: .protocolViolation("reserved bits set without an extension"), closeCode: 1002)
        }
    }

    func test_frameParser_rejectsReservedOpcode3_withProtocolError() {
        assertParseFailsAtEverySplit(bytes("83 00"), expectMasked: false, with: .protocolViolation("reserved opcode 3"), closeCode: 1002)
    }

    func test_frameParser_rejectsReservedOpcode0xB_withProtocolError() {
        assertParseFailsAtEverySplit(bytes("8B 00"), expectMasked: false, with: .protocolViolation("reserved opcode 11"), closeCode: 1002)
    }

    func test_frameParser_rejectsEveryReservedOpcode_withProtocolError() {
        for opcode: UInt8 in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assertThrows(.protocolViolation("reserved opcode \(opcode)"), closeCode: 1002,
                         try parseFrames([0x80 | opcode, 0x80, 1, 2, 3, 4], expectMasked: true))
        }
    }

    func test_frameParser_rejectsUnmaskedClientFrame_withProtocolError() {
        assertParseFailsAtEverySplit(bytes("81 05 48 65 6c 6c 6f"), expectMasked: true,
                                     with: .protocolViolation("unmasked client frame"), closeCode: 1002)
    }

    func test_frameParser_rejectsMaskedServerFrame_withProtocolError() {
        assertParseFailsAtEverySplit(bytes("81 85 37 fa 21 3d 7f 9f 4d 51 58"), expectMasked: false,
                                     with: .protocolViolation("masked server frame"), closeCode: 1002)
    }

    func test_frameParser_rejectsControlFrameOver125Bytes_withProtocolError() {
        // A 126-byte ping: refused from its first two bytes.
        assertParseFailsAtEverySplit(bytes("89 7E 00 7E") + patternPayload(count: 126), expectMasked: false,
                                     with: .protocolViolation("control frame payload over 125 bytes"), closeCode: 1002)
        assertParseFailsAtEverySplit(bytes("88 FF 00 00 00 00 00 00 00 7E"), expectMasked: true,
                                     with: .protocolViolation("control frame payload over 125 bytes"), closeCode: 1002)
    }

    func test_frameParser_rejectsFragmentedControlFrame_withProtocolError() {
        for opcode: UInt8 in [0x8, 0x9, 0xA] {
            assertParseFailsAtEverySplit([opcode, 0x00], expectMasked: false,
                                         with: .protocolViolation("fragmented control frame"), closeCode: 1002)
        }
    }

    func test_frameParser_rejects64BitLengthWithHighBit_withProtocolError() {
        assertParseFailsAtEverySplit(bytes("82 7F 80 00 00 00 00 00 00 00"), expectMasked: false, maxFrameSize: Int.max,
                                     with: .protocolViolation("64-bit length with the high bit set"), closeCode: 1002)
    }

    func test_frameParser_rejectsFrameOverMaxFrameSize_fromHeaderAlone() {
        // Only the header bytes are fed: the payload never arrives, yet the frame is refused.
        assertParseFailsAtEverySplit(bytes("82 65"), expectMasked: false, maxFrameSize: 100,
                                     with: .messageTooBig(limit: 100), closeCode: 1009)
        assertParseFailsAtEverySplit(bytes("82 7E 04 01"), expectMasked: false, maxFrameSize: 1024,
                                     with: .messageTooBig(limit: 1024), closeCode: 1009)
        assertParseFailsAtEverySplit(bytes("82 7F 00 00 00 00 00 01 00 00"), expectMasked: false, maxFrameSize: 65535,
                                     with: .messageTooBig(limit: 65535), closeCode: 1009)
        // Masked: refused before the masking key arrives.
        assertParseFailsAtEverySplit(bytes("82 FF 00 00 00 01 00 00 00 00"), expectMasked: true, maxFrameSize: 1 << 20,
                                     with: .messageTooBig(limit: 1 << 20), closeCode: 1009)
    }

    func test_frameParser_waitsForExtendedLength_beforeCheckingMaxFrameSize() throws {
        var parser = FrameParser(expectMasked: false, maxFrameSize: 1024)
        var frames: [ParsedFrame] = []
        try feed(&parser, bytes("82 7E 04"), into: &frames)  // 04 __ may still be 0x0400 = 1024, the limit
        XCTAssertEqual(parser.bufferedByteCount, 3)
        assertThrows(.messageTooBig(limit: 1024), closeCode: 1009, try feed(&parser, bytes("01"), into: &frames))
        XCTAssertTrue(frames.isEmpty)
    }
}
