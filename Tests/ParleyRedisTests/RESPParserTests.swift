import ParleyRedis
import XCTest

/// The RESP2 parser with byte vectors, fed whole and split at every byte boundary.
final class RESPParserTests: XCTestCase {
    /// Every value of `bytes`, fed in one piece.
    private func parseAll(_ bytes: [UInt8], parser: RESPParser = RESPParser()) throws -> [RESPValue] {
        var parser = parser
        parser.feed(bytes)
        var values: [RESPValue] = []
        while let value = try parser.next() { values.append(value) }
        XCTAssertEqual(parser.bufferedBytes, 0)
        return values
    }

    /// Every value of `bytes`, fed split at `cut` (and the value asked for after each piece).
    private func parseSplit(_ bytes: [UInt8], at cut: Int) throws -> [RESPValue] {
        var parser = RESPParser()
        var values: [RESPValue] = []
        parser.feed(Array(bytes[..<cut]))
        while let value = try parser.next() { values.append(value) }
        parser.feed(Array(bytes[cut...]))
        while let value = try parser.next() { values.append(value) }
        return values
    }

    private static let vectors: [(String, [RESPValue])] = [
        ("+OK\r\n", [.simpleString("OK")]),
        ("-ERR unknown command 'FOO'\r\n", [.error("ERR unknown command 'FOO'")]),
        (":0\r\n:-42\r\n:9223372036854775807\r\n", [.integer(0), .integer(-42), .integer(.max)]),
        ("$5\r\nhello\r\n$0\r\n\r\n$-1\r\n", [.bulkString(Array("hello".utf8)), .bulkString([]), .bulkString(nil)]),
        ("$4\r\na\r\nb\r\n", [.bulkString([97, 13, 10, 98])]),  // binary-safe: CRLF inside a bulk
        ("*0\r\n*-1\r\n", [.array([]), .array(nil)]),
        ("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n",
         [.array([.bulkString(Array("message".utf8)), .bulkString(Array("news".utf8)), .bulkString(Array("hi".utf8))])]),
        ("*2\r\n*1\r\n:1\r\n+x\r\n", [.array([.array([.integer(1)]), .simpleString("x")])]),
    ]

    func test_parser_readsEveryType_fromByteVectors() throws {
        for (text, expected) in Self.vectors {
            XCTAssertEqual(try parseAll(Array(text.utf8)), expected, text)
        }
    }

    func test_parser_readsSameValues_whenSplitAtEveryByte() throws {
        let all = Self.vectors.map(\.0).joined()
        let expected = Self.vectors.flatMap(\.1)
        let bytes = Array(all.utf8)
        for cut in 0...bytes.count {
            XCTAssertEqual(try parseSplit(bytes, at: cut), expected, "cut at \(cut)")
        }
    }

    func test_parser_readsSameValues_whenFedOneByteAtATime() throws {
        let bytes = Array(Self.vectors.map(\.0).joined().utf8)
        var parser = RESPParser()
        var values: [RESPValue] = []
        for byte in bytes {
            parser.feed([byte])
            while let value = try parser.next() { values.append(value) }
        }
        XCTAssertEqual(values, Self.vectors.flatMap(\.1))
    }

    func test_parser_returnsNil_untilValueIsComplete() throws {
        var parser = RESPParser()
        parser.feed(Array("$5\r\nhel".utf8))
        XCTAssertNil(try parser.next())
        parser.feed(Array("lo\r".utf8))
        XCTAssertNil(try parser.next())
        parser.feed(Array("\n".utf8))
        XCTAssertEqual(try parser.next(), .bulkString(Array("hello".utf8)))
        XCTAssertNil(try parser.next())
    }

    func test_parser_throwsProtocolError_forMalformedInput() {
        let bad = ["?x\r\n", ":12a\r\n", ":\r\n", ":99999999999999999999\r\n", "$-2\r\n", "$3\r\nabcd\r\n",
                   "*-5\r\n", "+OK\n", "+OK\rX", ":1234567890123456789012\r\n"]
        for text in bad {
            var parser = RESPParser()
            parser.feed(Array(text.utf8))
            XCTAssertThrowsError(try parser.next(), text) { error in
                guard case RedisError.protocolError = error else { return XCTFail("\(text): \(error)") }
            }
        }
    }

    func test_parser_throwsProtocolError_whenValueExceedsLimit() {
        var parser = RESPParser(maxValueBytes: 16)
        parser.feed(Array("$100\r\n".utf8))
        XCTAssertThrowsError(try parser.next())
        var lines = RESPParser(maxValueBytes: 16)
        lines.feed(Array("+\(String(repeating: "a", count: 40))".utf8))  // no CRLF yet, already too long
        XCTAssertThrowsError(try lines.next())
        var arrays = RESPParser(maxValueBytes: 64)
        arrays.feed(Array("*1000\r\n".utf8))
        XCTAssertThrowsError(try arrays.next())
    }

    func test_parser_throwsProtocolError_whenArraysNestTooDeep() {
        var parser = RESPParser(maxDepth: 3)
        parser.feed(Array("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n".utf8))
        XCTAssertThrowsError(try parser.next())
        var shallow = RESPParser(maxDepth: 3)
        shallow.feed(Array("*1\r\n*1\r\n:1\r\n".utf8))
        XCTAssertEqual(try shallow.next(), .array([.array([.integer(1)])]))
    }
}

final class RESPEncoderTests: XCTestCase {
    func test_encoder_writesCommandAsArrayOfBulkStrings() {
        XCTAssertEqual(String(decoding: RESPEncoder.command(["PUBLISH", "news", "hello"]), as: UTF8.self),
                       "*3\r\n$7\r\nPUBLISH\r\n$4\r\nnews\r\n$5\r\nhello\r\n")
        XCTAssertEqual(String(decoding: RESPEncoder.command(["PING"]), as: UTF8.self), "*1\r\n$4\r\nPING\r\n")
        XCTAssertEqual(String(decoding: RESPEncoder.command(["SET", "", "é"]), as: UTF8.self), "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$2\r\né\r\n")
    }

    func test_encoder_isBinarySafe_andRoundTripsThroughParser() throws {
        let payload: [UInt8] = Array(0...255) + [13, 10]
        var encoded: [UInt8] = []
        RESPEncoder.appendCommand([Array("PUBLISH".utf8), Array("c".utf8), payload], to: &encoded)
        XCTAssertTrue(encoded.starts(with: Array("*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$258\r\n".utf8)))
        var parser = RESPParser()
        parser.feed(encoded)
        XCTAssertEqual(try parser.next(), .array([.bulkString(Array("PUBLISH".utf8)), .bulkString([99]), .bulkString(payload)]))
    }

    func test_encoder_writesMultiDigitLengths() {
        let long = String(repeating: "x", count: 1234)
        let encoded = RESPEncoder.command([long])
        XCTAssertTrue(encoded.starts(with: Array("*1\r\n$1234\r\n".utf8)))
        XCTAssertEqual(encoded.count, 4 + 7 + 1234 + 2)
    }
}
