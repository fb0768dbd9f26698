import Foundation
import Glibc
import XCTest
@testable import ParleyWebSocket

// Shared fixtures for the codec and handshake tests: hex vectors, and helpers that run bytes
// through a FrameParser (and a MessageAssembler) whole, split in two at every index, and
// byte by byte.

/// Decodes a hex fixture such as `"81 05 48 65 6c 6c 6f"`. Whitespace is ignored; anything
/// else that is not a hex digit pair stops the test run, since the fixture itself is wrong.
func bytes(_ hex: String) -> [UInt8] {
    let digits = hex.unicodeScalars.filter { !CharacterSet.whitespacesAndNewlines.contains($0) }.map(Character.init)
    precondition(digits.count % 2 == 0, "odd number of hex digits in fixture \(hex)")
    var result: [UInt8] = []
    result.reserveCapacity(digits.count / 2)
    var i = 0
    while i < digits.count {
        guard let byte = UInt8(String(digits[i...i + 1]), radix: 16) else { preconditionFailure("bad hex in fixture \(hex)") }
        result.append(byte)
        i += 2
    }
    return result
}

/// A frame copied out of the parser's callback (the payload it hands over is borrowed).
///
/// Equality compares payloads with `memcmp`, so comparing 64 KiB payloads thousands of times
/// stays fast in debug builds.
struct ParsedFrame: Equatable, CustomStringConvertible {
    var fin: Bool
    var opcode: Opcode
    var payload: [UInt8]

    init(_ fin: Bool, _ opcode: Opcode, _ payload: [UInt8]) {
        self.fin = fin
        self.opcode = opcode
        self.payload = payload
    }

    init(_ frame: Frame) {
        self.init(frame.fin, frame.opcode, Array(frame.payload))
    }

    static func == (lhs: ParsedFrame, rhs: ParsedFrame) -> Bool {
        guard lhs.fin == rhs.fin, lhs.opcode == rhs.opcode, lhs.payload.count == rhs.payload.count else { return false }
        return lhs.payload.withUnsafeBytes { l in
            rhs.payload.withUnsafeBytes { r in l.count == 0 || memcmp(l.baseAddress!, r.baseAddress!, l.count) == 0 }
        }
    }

    var description: String {
        let shown = payload.prefix(16).map { String($0, radix: 16) }.joined(separator: " ")
        return "(fin: \(fin), \(opcode), \(payload.count) bytes: \(shown)\(payload.count > 16 ? " ..." : ""))"
    }
}

/// Feeds `chunk` (copied: the parser unmasks in place) to `parser`, appending frames to `frames`.
func feed(_ parser: inout FrameParser, _ chunk: some Collection<UInt8>, into frames: inout [ParsedFrame]) throws {
    var copy = Array(chunk)
    try copy.withUnsafeMutableBytes { buffer in
        try parser.parse(buffer) { frames.append(ParsedFrame($0)) }
    }
}

/// Feeds `chunks` in order to a fresh parser and returns every frame it delivers.
func parseFrames(_ chunks: [[UInt8]], expectMasked: Bool, maxFrameSize: Int = 1 << 20) throws -> [ParsedFrame] {
    var parser = FrameParser(expectMasked: expectMasked, maxFrameSize: maxFrameSize)
    var frames: [ParsedFrame] = []
    for chunk in chunks { try feed(&parser, chunk, into: &frames) }
    return frames
}

/// Feeds `input` in one piece to a fresh parser and returns every frame it delivers.
func parseFrames(_ input: [UInt8], expectMasked: Bool, maxFrameSize: Int = 1 << 20) throws -> [ParsedFrame] {
    try parseFrames([input], expectMasked: expectMasked, maxFrameSize: maxFrameSize)
}

/// Every way `input` is cut for the split tests: whole, in two at every index 0...count
/// (including the empty first and last pieces), and byte by byte.
func everySplit(of input: [UInt8]) -> [(name: String, chunks: [[UInt8]])] {
    var splits: [(name: String, chunks: [[UInt8]])] = [("whole", [input])]
    for index in 0...input.count {
        splits.append(("split at \(index)", [Array(input[..<index]), Array(input[index...])]))
    }
    splits.append(("byte by byte", input.map { [$0] }))
    return splits
}

/// Asserts that `input` parses to `expected` whole, split in two at every byte boundary, and
/// fed byte by byte, and that the parser holds no bytes afterwards.
func assertFramesAtEverySplit(
    _ input: [UInt8], expectMasked: Bool, maxFrameSize: Int = 1 << 20, expected: [ParsedFrame],
    file: StaticString = #filePath, line: UInt = #line
) {
    var failures = 0
    for (name, chunks) in everySplit(of: input) where failures < 5 {
        var parser = FrameParser(expectMasked: expectMasked, maxFrameSize: maxFrameSize)
        var frames: [ParsedFrame] = []
        do {
            for chunk in chunks { try feed(&parser, chunk, into: &frames) }
        } catch {
            XCTFail("\(name): unexpected error \(error)", file: file, line: line)
            failures += 1
            continue
        }
        if frames != expected {
            XCTFail("\(name): got \(frames), expected \(expected)", file: file, line: line)
            failures += 1
        }
        if parser.bufferedByteCount != 0 {
            XCTFail("\(name): \(parser.bufferedByteCount) bytes left buffered", file: file, line: line)
            failures += 1
        }
    }
}

/// Asserts that feeding `input` fails with exactly `expected` (and its close code) whole,
/// split at every byte boundary, and byte by byte.
func assertParseFailsAtEverySplit(
    _ input: [UInt8], expectMasked: Bool, maxFrameSize: Int = 1 << 20, with expected: WebSocketError,
    closeCode: UInt16, file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(expected.closeCode.rawValue, closeCode, "close code of \(expected)", file: file, line: line)
    for (name, chunks) in everySplit(of: input) {
        var parser = FrameParser(expectMasked: expectMasked, maxFrameSize: maxFrameSize)
        var frames: [ParsedFrame] = []
        do {
            for chunk in chunks { try feed(&parser, chunk, into: &frames) }
            XCTFail("\(name): no error; expected \(expected)", file: file, line: line)
            return
        } catch let error as WebSocketError {
            guard error == expected else {
                XCTFail("\(name): threw \(error); expected \(expected)", file: file, line: line)
                return
            }
        } catch {
            XCTFail("\(name): threw non-WebSocketError \(error)", file: file, line: line)
            return
        }
    }
}

/// Asserts that `body` throws exactly `expected`, and that its close code is `closeCode`.
func assertThrows<T>(
    _ expected: WebSocketError, closeCode: UInt16, _ body: @autoclosure () throws -> T,
    file: StaticString = #filePath, line: UInt = #line
) {
    do {
        let value = try body()
        XCTFail("no error (got \(value)); expected \(expected)", file: file, line: line)
    } catch let error as WebSocketError {
        XCTAssertEqual(error, expected, file: file, line: line)
        XCTAssertEqual(error.closeCode.rawValue, closeCode, "close code of \(error)", file: file, line: line)
    } catch {
        XCTFail("threw non-WebSocketError \(error); expected \(expected)", file: file, line: line)
    }
}

/// Hands one frame built from an array to `assembler`.
func receive(_ assembler: inout MessageAssembler, fin: Bool = true, _ opcode: Opcode, _ payload: [UInt8]) throws -> MessageAssembler.Event? {
    try payload.withUnsafeBytes { try assembler.receive(Frame(fin: fin, opcode: opcode, payload: $0)) }
}

/// Runs `chunks` through a FrameParser and a MessageAssembler and returns the events in order.
func parseEvents(
    _ chunks: [[UInt8]], expectMasked: Bool, maxFrameSize: Int = 1 << 20, maxMessageSize: Int = 1 << 20
) throws -> [MessageAssembler.Event] {
    var parser = FrameParser(expectMasked: expectMasked, maxFrameSize: maxFrameSize)
    var assembler = MessageAssembler(maxMessageSize: maxMessageSize)
    var events: [MessageAssembler.Event] = []
    for chunk in chunks {
        var copy = chunk
        try copy.withUnsafeMutableBytes { buffer in
            try parser.parse(buffer) { frame in
                if let event = try assembler.receive(frame) { events.append(event) }
            }
        }
    }
    return events
}

/// Asserts that `input` yields `expected` events through parser and assembler whole, split
/// in two at every byte boundary, and byte by byte.
func assertEventsAtEverySplit(
    _ input: [UInt8], expectMasked: Bool, expected: [MessageAssembler.Event],
    file: StaticString = #filePath, line: UInt = #line
) {
    for (name, chunks) in everySplit(of: input) {
        do {
            let events = try parseEvents(chunks, expectMasked: expectMasked)
            if events != expected {
                XCTFail("\(name): got \(events), expected \(expected)", file: file, line: line)
                return
            }
        } catch {
            XCTFail("\(name): unexpected error \(error)", file: file, line: line)
            return
        }
    }
}

/// A payload whose bytes differ from their neighbours, so misplaced or unmasked bytes show.
func patternPayload(count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
}

/// The RFC 6455 5.7 masking key.
let rfcMaskKey: (UInt8, UInt8, UInt8, UInt8) = (0x37, 0xFA, 0x21, 0x3D)
