import Foundation
import Glibc
import XCTest
@testable import ParleyWebSocket

// Shared fixtures for the codec and handshake tests: hex vectors, and helpers that run bytes
// through a FrameParser (and a MessageAssembler) whole, split in two at every index, byte by
// byte, and (for short vectors) split in three at every pair of indices.

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
func parseFrames<Chunk: Collection<UInt8>>(_ chunks: [Chunk], expectMasked: Bool, maxFrameSize: Int = 1 << 20) throws -> [ParsedFrame] {
    var parser = FrameParser(expectMasked: expectMasked, maxFrameSize: maxFrameSize)
    var frames: [ParsedFrame] = []
    for chunk in chunks { try feed(&parser, chunk, into: &frames) }
    return frames
}

/// Feeds `input` in one piece to a fresh parser and returns every frame it delivers.
func parseFrames(_ input: [UInt8], expectMasked: Bool, maxFrameSize: Int = 1 << 20) throws -> [ParsedFrame] {
    try parseFrames([input], expectMasked: expectMasked, maxFrameSize: maxFrameSize)
}

/// Calls `body` with every way `input` is cut for the split tests: whole, in two at every
/// index 0...count (including the empty first and last pieces), byte by byte, and, for inputs
/// of at most 64 bytes, in three at every pair of indices (so that one feed can finish a
/// buffered frame and leave part of the next one buffered). The cuts are made one at a time,
/// so a 64 KiB vector never holds 65 537 copies in memory.
func forEverySplit(of input: [UInt8], _ body: (_ name: String, _ chunks: [ArraySlice<UInt8>]) -> Void) {
    body("whole", [input[...]])
    for index in 0...input.count {
        body("split at \(index)", [input[..<index], input[index...]])
    }
    body("byte by byte", input.indices.map { input[$0...$0] })
    guard input.count <= 64 else { return }
    for first in 1..<max(input.count, 1) {
        for second in first + 1..<max(input.count, first + 1) {
            body("split at \(first) and \(second)", [input[..<first], input[first..<second], input[second...]])
        }
    }
}

/// Asserts that `input` parses to `expected` whole, split in two at every byte boundary, and
/// fed byte by byte, and that the parser holds no bytes afterwards. Reports at most 3 failing cuts.
///
/// Chunks are copied into one scratch buffer and frames are compared inside the callback
/// rather than copied out, so the 65 537 cuts of a 64 KiB vector allocate almost nothing.
func assertFramesAtEverySplit(
    _ input: [UInt8], expectMasked: Bool, maxFrameSize: Int = 1 << 20, expected: [ParsedFrame],
    file: StaticString = #filePath, line: UInt = #line
) {
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(input.count, 1), alignment: 8)
    defer { scratch.deallocate() }
    var failures = 0
    forEverySplit(of: input) { name, chunks in
        guard failures < 3 else { return }
        var parser = FrameParser(expectMasked: expectMasked, maxFrameSize: maxFrameSize)
        var count = 0
        var mismatch: String?
        do {
            for chunk in chunks {
                let buffer = UnsafeMutableRawBufferPointer(rebasing: scratch[..<chunk.count])
                chunk.withUnsafeBytes { buffer.copyMemory(from: $0) }
                try parser.parse(buffer) { frame in
                    defer { count += 1 }
                    guard mismatch == nil else { return }
                    guard count < expected.count else {
                        mismatch = "extra frame \(ParsedFrame(frame))"
                        return
                    }
                    let want = expected[count]
                    let samePayload = frame.payload.count == want.payload.count && want.payload.withUnsafeBytes {
                        $0.count == 0 || memcmp($0.baseAddress!, frame.payload.baseAddress!, $0.count) == 0
                    }
                    if frame.fin != want.fin || frame.opcode != want.opcode || !samePayload {
                        mismatch = "frame \(count) is \(ParsedFrame(frame)), expected \(want)"
                    }
                }
            }
        } catch {
            XCTFail("\(name): unexpected error \(error)", file: file, line: line)
            failures += 1
            return
        }
        if mismatch == nil && count != expected.count { mismatch = "\(count) frames, expected \(expected.count)" }
        if let mismatch {
            XCTFail("\(name): \(mismatch)", file: file, line: line)
            failures += 1
        }
        if parser.bufferedByteCount != 0 {
            XCTFail("\(name): \(parser.bufferedByteCount) bytes left buffered", file: file, line: line)
            failures += 1
        }
    }
}

/// Asserts that feeding `input` fails with exactly `expected` (and its close code) whole,
/// split at every byte boundary, and byte by byte. Reports at most 3 failing cuts.
func assertParseFailsAtEverySplit(
    _ input: [UInt8], expectMasked: Bool, maxFrameSize: Int = 1 << 20, with expected: WebSocketError,
    closeCode: UInt16, file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(expected.closeCode.rawValue, closeCode, "close code of \(expected)", file: file, line: line)
    var failures = 0
    forEverySplit(of: input) { name, chunks in
        guard failures < 3 else { return }
        var parser = FrameParser(expectMasked: expectMasked, maxFrameSize: maxFrameSize)
        var frames: [ParsedFrame] = []
        do {
            for chunk in chunks { try feed(&parser, chunk, into: &frames) }
            XCTFail("\(name): no error (frames \(frames)); expected \(expected)", file: file, line: line)
            failures += 1
        } catch let error as WebSocketError {
            if error != expected {
                XCTFail("\(name): threw \(error); expected \(expected)", file: file, line: line)
                failures += 1
            }
        } catch {
            XCTFail("\(name): threw non-WebSocketError \(error)", file: file, line: line)
            failures += 1
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
func parseEvents<Chunk: Collection<UInt8>>(
    _ chunks: [Chunk], expectMasked: Bool, maxFrameSize: Int = 1 << 20, maxMessageSize: Int = 1 << 20
) throws -> [MessageAssembler.Event] {
    var parser = FrameParser(expectMasked: expectMasked, maxFrameSize: maxFrameSize)
    var assembler = MessageAssembler(maxMessageSize: maxMessageSize)
    var events: [MessageAssembler.Event] = []
    for chunk in chunks {
        var copy = Array(chunk)
        try copy.withUnsafeMutableBytes { buffer in
            try parser.parse(buffer) { frame in
                if let event = try assembler.receive(frame) { events.append(event) }
            }
        }
    }
    return events
}

/// Asserts that `input` yields `expected` events through parser and assembler whole, split
/// in two at every byte boundary, and byte by byte. Reports at most 3 failing cuts.
func assertEventsAtEverySplit(
    _ input: [UInt8], expectMasked: Bool, expected: [MessageAssembler.Event],
    file: StaticString = #filePath, line: UInt = #line
) {
    var failures = 0
    forEverySplit(of: input) { name, chunks in
        guard failures < 3 else { return }
        do {
            let events = try parseEvents(chunks, expectMasked: expectMasked)
            if events != expected {
                XCTFail("\(name): got \(events), expected \(expected)", file: file, line: line)
                failures += 1
            }
        } catch {
            XCTFail("\(name): unexpected error \(error)", file: file, line: line)
            failures += 1
        }
    }
}

/// A payload whose bytes differ from their neighbours, so misplaced or unmasked bytes show.
func patternPayload(count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
}

/// The RFC 6455 5.7 masking key.
let rfcMaskKey: (UInt8, UInt8, UInt8, UInt8) = (0x37, 0xFA, 0x21, 0x3D)
