import XCTest
@testable import ParleyWebSocket

final class FrameEncoderTests: XCTestCase {
    private let key: (UInt8, UInt8, UInt8, UInt8) = (0xA1, 0x5B, 0x07, 0xE4)

    // MARK: - Headers and round trips

    /// Encodes `count` pattern bytes, checks the header exactly and the payload bytes on the
    /// wire, then parses the frame back (split at every boundary for small frames).
    private func assertRoundTrip(count: Int, masked: Bool, header expectedHeader: [UInt8],
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let payload = patternPayload(count: count)
        let maskKey = masked ? key : nil
        let encoded = FrameEncoder.frame(opcode: .binary, payload: payload, maskKey: maskKey)
        let headerSize = FrameEncoder.headerSize(payloadCount: count, masked: masked)
        XCTAssertEqual(headerSize, expectedHeader.count, "headerSize", file: file, line: line)
        XCTAssertEqual(encoded.count, expectedHeader.count + count, "frame size", file: file, line: line)
        XCTAssertEqual(Array(encoded.prefix(expectedHeader.count)), expectedHeader, "header", file: file, line: line)
        let keyBytes = [key.0, key.1, key.2, key.3]
        let wire = Array(encoded[expectedHeader.count...])
        let expectedWire = masked ? payload.enumerated().map { $0.element ^ keyBytes[$0.offset % 4] } : payload
        XCTAssertTrue(wire == expectedWire, "payload bytes on the wire", file: file, line: line)
        let frames = try parseFrames(encoded, expectMasked: masked, maxFrameSize: 1 << 17)
        XCTAssertEqual(frames, [ParsedFrame(true, .binary, payload)], file: file, line: line)
        if count <= 126 {
            assertFramesAtEverySplit(encoded, expectMasked: masked, expected: [ParsedFrame(true, .binary, payload)], file: file, line: line)
        }
    }

    func test_frameEncoder_encodesLength0_with7BitHeader() throws {
        try assertRoundTrip(count: 0, masked: false, header: bytes("82 00"))
        try assertRoundTrip(count: 0, masked: true, header: bytes("82 80 A1 5B 07 E4"))
    }

    func test_frameEncoder_encodesLength125_with7BitHeader() throws {
        try assertRoundTrip(count: 125, masked: false, header: bytes("82 7D"))
        try assertRoundTrip(count: 125, masked: true, header: bytes("82 FD A1 5B 07 E4"))
    }

    func test_frameEncoder_encodesLength126_with16BitHeader() throws {
        try assertRoundTrip(count: 126, masked: false, header: bytes("82 7E 00 7E"))
        try assertRoundTrip(count: 126, masked: true, header: bytes("82 FE 00 7E A1 5B 07 E4"))
    }

    func test_frameEncoder_encodesLength65535_with16BitHeader() throws {
        try assertRoundTrip(count: 65535, masked: false, header: bytes("82 7E FF FF"))
        try assertRoundTrip(count: 65535, masked: true, header: bytes("82 FE FF FF A1 5B 07 E4"))
    }

    func test_frameEncoder_encodesLength65536_with64BitHeader() throws {
        try assertRoundTrip(count: 65536, masked: false, header: bytes("82 7F 00 00 00 00 00 01 00 00"))
        try assertRoundTrip(count: 65536, masked: true, header: bytes("82 FF 00 00 00 00 00 01 00 00 A1 5B 07 E4"))
    }

    func test_frameEncoder_masksRFCHello_toRFCBytes() {
        XCTAssertEqual(FrameEncoder.frame(opcode: .text, payload: Array("Hello".utf8), maskKey: rfcMaskKey),
                       bytes("81 85 37 fa 21 3d 7f 9f 4d 51 58"))
        XCTAssertEqual(FrameEncoder.frame(opcode: .pong, payload: Array("Hello".utf8), maskKey: rfcMaskKey),
                       bytes("8a 85 37 fa 21 3d 7f 9f 4d 51 58"))
    }

    func test_frameEncoder_encodesRFCUnmaskedExamples() {
        XCTAssertEqual(FrameEncoder.frame(opcode: .text, payload: Array("Hello".utf8)), bytes("81 05 48 65 6c 6c 6f"))
        XCTAssertEqual(FrameEncoder.frame(opcode: .text, fin: false, payload: Array("Hel".utf8)), bytes("01 03 48 65 6c"))
        XCTAssertEqual(FrameEncoder.frame(opcode: .continuation, payload: Array("lo".utf8)), bytes("80 02 6c 6f"))
        XCTAssertEqual(FrameEncoder.frame(opcode: .ping, payload: Array("Hello".utf8)), bytes("89 05 48 65 6c 6c 6f"))
    }

    func test_frameEncoder_encodesOpcodeAndFinBits() {
        for opcode in [Opcode.continuation, .text, .binary, .close, .ping, .pong] {
            XCTAssertEqual(FrameEncoder.frame(opcode: opcode, payload: []), [0x80 | opcode.rawValue, 0x00])
            XCTAssertEqual(FrameEncoder.frame(opcode: opcode, fin: false, payload: []), [opcode.rawValue, 0x00])
        }
    }

    func test_frameEncoder_append_keepsExistingBytes() {
        var out: [UInt8] = [0xEE, 0xFF]
        bytes("01 02 03").withUnsafeBytes { FrameEncoder.append(opcode: .binary, payload: $0, to: &out) }
        Array("Hello".utf8).withUnsafeBytes { FrameEncoder.append(opcode: .text, payload: $0, maskKey: rfcMaskKey, to: &out) }
        XCTAssertEqual(out, bytes("EE FF  82 03 01 02 03  81 85 37 fa 21 3d 7f 9f 4d 51 58"))
    }

    func test_applyMask_matchesBytewiseXOR_atEveryLengthAndAlignment() {
        let keyBytes = [key.0, key.1, key.2, key.3]
        for length in 0...40 {
            for offset in 0..<8 {
                let original = patternPayload(count: offset + length)
                var buffer = original
                buffer.withUnsafeMutableBytes { applyMask(UnsafeMutableRawBufferPointer(rebasing: $0[offset...]), key: key) }
                let expected = Array(original[..<offset]) + (0..<length).map { original[offset + $0] ^ keyBytes[$0 % 4] }
                XCTAssertEqual(buffer, expected, "length \(length), offset \(offset)")
            }
        }
    }

    // MARK: - Close payloads

    func test_frameEncoder_closePayload_startsWithBigEndianCode() {
        XCTAssertEqual(FrameEncoder.closePayload(code: .normalClosure, reason: ""), bytes("03 E8"))
        XCTAssertEqual(FrameEncoder.closePayload(code: CloseCode(4999), reason: "bye"), bytes("13 87 62 79 65"))
    }

    func test_frameEncoder_closePayload_keepsReasonOf123Bytes() {
        let reason = String(repeating: "r", count: 121) + "é"  // 123 bytes
        let payload = FrameEncoder.closePayload(code: .goingAway, reason: reason)
        XCTAssertEqual(payload.count, 125)
        XCTAssertEqual(Array(payload.dropFirst(2)), Array(reason.utf8))
    }

    func test_frameEncoder_closePayload_truncatesASCIIReasonTo125Bytes() {
        let payload = FrameEncoder.closePayload(code: .normalClosure, reason: String(repeating: "x", count: 300))
        XCTAssertEqual(payload, bytes("03 E8") + Array(repeating: UInt8(ascii: "x"), count: 123))
        // One byte over the limit is enough to cut.
        let justOver = FrameEncoder.closePayload(code: .normalClosure, reason: String(repeating: "y", count: 124))
        XCTAssertEqual(justOver, bytes("03 E8") + Array(repeating: UInt8(ascii: "y"), count: 123))
    }

    func test_frameEncoder_closePayload_truncatesOnCharacterBoundary() {
        // "é" (C3 A9) straddles the 123-byte limit: it is dropped whole.
        let twoByte = FrameEncoder.closePayload(code: .normalClosure, reason: String(repeating: "a", count: 122) + "é!")
        XCTAssertEqual(twoByte, bytes("03 E8") + Array(repeating: UInt8(ascii: "a"), count: 122))
        // "🎉" (F0 9F 8E 89) straddles the limit: all four bytes are dropped.
        let fourByte = FrameEncoder.closePayload(code: .normalClosure, reason: String(repeating: "a", count: 121) + "🎉")
        XCTAssertEqual(fourByte, bytes("03 E8") + Array(repeating: UInt8(ascii: "a"), count: 121))
    }

    func test_frameEncoder_closePayload_isLongestValidPrefix_forEveryAlignment() {
        for padding in 0..<4 {
            for character in ["é", "€", "🎉"] {
                let reason = String(repeating: "a", count: padding) + String(repeating: character, count: 100)
                let reasonBytes = Array(reason.utf8)
                let payload = FrameEncoder.closePayload(code: .normalClosure, reason: reason)
                let kept = Array(payload.dropFirst(2))
                XCTAssertLessThanOrEqual(payload.count, 125)
                XCTAssertEqual(kept, Array(reasonBytes.prefix(kept.count)), "a prefix of the reason")
                XCTAssertTrue(kept.withUnsafeBytes { UTF8Validator.isValid($0) }, "padding \(padding), \(character)")
                // Longest: one more character would not fit.
                XCTAssertGreaterThan(kept.count + character.utf8.count, 123, "padding \(padding), \(character)")
            }
        }
    }

    func test_frameEncoder_closePayload_roundTripsThroughAssembler() throws {
        var assembler = MessageAssembler(maxMessageSize: 1000)
        let payload = FrameEncoder.closePayload(code: CloseCode(3001), reason: "going ✓")
        XCTAssertEqual(try receive(&assembler, .close, payload), .close(code: CloseCode(3001), reason: "going ✓"))
    }
}
