import XCTest
@testable import ParleyWebSocket

final class HTTPHeadParserTests: XCTestCase {
    private let upgradeHead = "GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
        + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    private var upgradeLines: [String] {
        ["GET /chat?room=1 HTTP/1.1", "Host: server.example.com", "Upgrade: websocket", "Connection: Upgrade",
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    }

    private func feed(_ parser: inout HTTPHeadParser, _ input: some Collection<UInt8>) throws -> HTTPHeadParser.Result {
        try Array(input).withUnsafeBytes { try parser.feed($0) }
    }

    /// Asserts that `body` throws an ``HTTPHeadParser/Failure`` with `status`.
    private func assertFailure<T>(status: Int, _ body: @autoclosure () throws -> T, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let value = try body()
            XCTFail("no error (got \(value)); expected status \(status)", file: file, line: line)
        } catch let failure as HTTPHeadParser.Failure {
            XCTAssertEqual(failure.status, status, failure.reason, file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    private func requestHead(_ lines: [String]) throws -> HTTPRequestHead {
        try HTTPHeadParser.request(lines)
    }

    // MARK: - Framing the head

    func test_httpHeadParser_completesHead_inOneFeed() throws {
        var parser = HTTPHeadParser(maxBytes: 8192)
        XCTAssertEqual(try feed(&parser, Array(upgradeHead.utf8)), .complete(lines: upgradeLines, remainder: []))
    }

    func test_httpHeadParser_completesHead_onlyAtTheLastByte_whenFedByteByByte() throws {
        var parser = HTTPHeadParser(maxBytes: 8192)
        let input = Array(upgradeHead.utf8)
        for (index, byte) in input.enumerated().dropLast() {
            XCTAssertEqual(try feed(&parser, [byte]), .needMore, "byte \(index)")
        }
        XCTAssertEqual(try feed(&parser, [input.last!]), .complete(lines: upgradeLines, remainder: []))
    }

    func test_httpHeadParser_completesHead_whenSplitInTwoAtEveryIndex() throws {
        let input = Array(upgradeHead.utf8) + bytes("81 05 48 65 6c 6c 6f")
        for index in 0...input.count {
            var parser = HTTPHeadParser(maxBytes: 8192)
            let first = try feed(&parser, input[..<index])
            if index < upgradeHead.utf8.count {
                XCTAssertEqual(first, .needMore, "split at \(index)")
                XCTAssertEqual(try feed(&parser, input[index...]),
                               .complete(lines: upgradeLines, remainder: bytes("81 05 48 65 6c 6c 6f")), "split at \(index)")
            } else {
                let remainder = Array(input[upgradeHead.utf8.count..<index])
                XCTAssertEqual(first, .complete(lines: upgradeLines, remainder: remainder), "split at \(index)")
            }
        }
    }

    func test_httpHeadParser_returnsBytesAfterHead_asRemainder() throws {
        var parser = HTTPHeadParser(maxBytes: 8192)
        let frame = bytes("81 85 37 fa 21 3d 7f 9f 4d 51 58")
        XCTAssertEqual(try feed(&parser, Array(upgradeHead.utf8) + frame + Array("\r\n\r\n".utf8)),
                       .complete(lines: upgradeLines, remainder: frame + Array("\r\n\r\n".utf8)))
    }

    func test_httpHeadParser_isReusable_afterCompleteHead() throws {
        var parser = HTTPHeadParser(maxBytes: 8192)
        XCTAssertEqual(try feed(&parser, Array("HTTP/1.1 200 OK\r\nA: 1\r\n\r\n".utf8)), .complete(lines: ["HTTP/1.1 200 OK", "A: 1"], remainder: []))
        XCTAssertEqual(try feed(&parser, Array("GET / HTTP/1.1\r\n\r\n".utf8)), .complete(lines: ["GET / HTTP/1.1"], remainder: []))
    }

    // MARK: - Limits and malformed heads

    func test_httpHeadParser_rejectsHeadOverMaxBytes_withStatus431_whenTerminatorNeverComes() throws {
        var parser = HTTPHeadParser(maxBytes: 64)
        let input = Array(("GET / HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: 100)).utf8)
        XCTAssertEqual(try feed(&parser, input[..<64]), .needMore)  // exactly at the limit: still waiting
        assertFailure(status: 431, try feed(&parser, input[64..<65]))
        var oneFeed = HTTPHeadParser(maxBytes: 64)
        assertFailure(status: 431, try feed(&oneFeed, input))
    }

    func test_httpHeadParser_rejectsHeadOverMaxBytes_withStatus431_whenTerminatorComesAfterLimit() throws {
        let input = Array(("GET / HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: 60) + "\r\n\r\n").utf8)
        XCTAssertGreaterThan(input.count, 64)
        var oneFeed = HTTPHeadParser(maxBytes: 64)
        assertFailure(status: 431, try feed(&oneFeed, input))
        var twoFeeds = HTTPHeadParser(maxBytes: 64)
        XCTAssertEqual(try feed(&twoFeeds, input[..<40]), .needMore)
        assertFailure(status: 431, try feed(&twoFeeds, input[40...]))
    }

    func test_httpHeadParser_acceptsHeadOfExactlyMaxBytes() throws {
        let input = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        var parser = HTTPHeadParser(maxBytes: input.count)
        XCTAssertEqual(try feed(&parser, input + [0x81]), .complete(lines: ["GET / HTTP/1.1", "Host: x"], remainder: [0x81]))
        var tooSmall = HTTPHeadParser(maxBytes: input.count - 1)
        assertFailure(status: 431, try feed(&tooSmall, input))
    }

    func test_httpHeadParser_rejectsNUL_withStatus400() {
        var parser = HTTPHeadParser(maxBytes: 8192)
        assertFailure(status: 400, try feed(&parser, Array("GET / HTTP/1.1\r\nX: a\u{0}b\r\n\r\n".utf8)))
    }

    func test_httpHeadParser_rejectsInvalidUTF8_withStatus400() {
        var parser = HTTPHeadParser(maxBytes: 8192)
        assertFailure(status: 400, try feed(&parser, Array("GET / HTTP/1.1\r\nX: ".utf8) + [0xC0, 0xAF] + Array("\r\n\r\n".utf8)))
    }

    // MARK: - request(_:)

    func test_httpHeadParser_request_parsesMethodTargetVersionAndHeaders() throws {
        let head = try requestHead(["GET /chat?room=1 HTTP/1.1", "Host: server.example.com", "X-Padded: \t value with  spaces \t",
                                    "Empty:", "X-Colon: a:b"])
        XCTAssertEqual(head.method, "GET")
        XCTAssertEqual(head.target, "/chat?room=1")
        XCTAssertEqual(head.version, "HTTP/1.1")
        XCTAssertEqual(head.headers.map(\.name), ["Host", "X-Padded", "Empty", "X-Colon"])
        XCTAssertEqual(head.headers.map(\.value), ["server.example.com", "value with  spaces", "", "a:b"])
        XCTAssertEqual(head, HTTPRequestHead(method: "GET", target: "/chat?room=1", version: "HTTP/1.1", headers: [
            ("Host", "server.example.com"), ("X-Padded", "value with  spaces"), ("Empty", ""), ("X-Colon", "a:b"),
        ]))
    }

    func test_httpHeadParser_request_parsesFedBytes() throws {
        var parser = HTTPHeadParser(maxBytes: 8192)
        guard case .complete(let lines, _) = try feed(&parser, Array(upgradeHead.utf8)) else { return XCTFail("incomplete") }
        let head = try requestHead(lines)
        XCTAssertEqual(head.path, "/chat")
        XCTAssertEqual(head["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==")
    }

    func test_httpHeadParser_request_keepsOriginFormOfAbsoluteTarget() throws {
        XCTAssertEqual(try requestHead(["GET http://example.com:8080/chat?x=1 HTTP/1.1"]).target, "/chat?x=1")
        XCTAssertEqual(try requestHead(["GET https://example.com HTTP/1.1"]).target, "/")
    }

    func test_httpHeadParser_request_rejectsMalformedRequestLine_withStatus400() {
        for line in ["GET / HTTP/1.1 extra", "GET /", "GET  / HTTP/1.1", "GET / FTP/1.0", "GET chat HTTP/1.1", " / HTTP/1.1",
                     "G(T / HTTP/1.1", "", "GET / HTTP/2"] {
            assertFailure(status: 400, try requestHead([line]))
        }
        assertFailure(status: 400, try requestHead([]))
    }

    func test_httpHeadParser_request_rejectsVersionThatIsNotDigitDotDigit_withStatus400() {
        // RFC 9112 2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT.
        for version in ["HTTP/1.x", "HTTP/1.", "HTTP/1.10", "HTTP/1.1a", "HTTP/11.1", "HTTP/1,1", "http/1.1", "HTTP/ 1.1"] {
            assertFailure(status: 400, try requestHead(["GET / \(version)", "Host: x"]))
        }
    }

    func test_httpHeadParser_request_rejectsOtherMajorVersion_withStatus505() {
        for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0"] {
            assertFailure(status: 505, try requestHead(["GET / \(version)", "Host: x"]))
        }
    }

    func test_httpHeadParser_request_keepsWellFormedHTTP1Versions() throws {
        for version in ["HTTP/1.0", "HTTP/1.1", "HTTP/1.9"] {
            XCTAssertEqual(try requestHead(["GET / \(version)", "Host: x"]).version, version)
        }
    }

    func test_httpHeadParser_request_rejectsObsFold_withStatus400() {
        assertFailure(status: 400, try requestHead(["GET / HTTP/1.1", "X-Folded: first", " continued"]))
        assertFailure(status: 400, try requestHead(["GET / HTTP/1.1", "X-Folded: first", "\tcontinued"]))
    }

    func test_httpHeadParser_request_rejectsHeaderNameWithSpace_withStatus400() {
        assertFailure(status: 400, try requestHead(["GET / HTTP/1.1", "Bad Name: value"]))
        assertFailure(status: 400, try requestHead(["GET / HTTP/1.1", "Host : example.com"]))
    }

    func test_httpHeadParser_request_rejectsMalformedHeaderLines_withStatus400() {
        for line in ["NoColon", ": empty name", "Na\"me: value", "X: bare\rCR", "X: bare\nLF"] {
            assertFailure(status: 400, try requestHead(["GET / HTTP/1.1", line]))
        }
    }

    // MARK: - HTTPRequestHead

    func test_httpRequestHead_decodesQuery() {
        let head = HTTPRequestHead(method: "GET", target: "/p?token=a%20b&x=1")
        XCTAssertEqual(head.path, "/p")
        XCTAssertEqual(head.queryString, "token=a%20b&x=1")
        XCTAssertEqual(head.query, ["token": "a b", "x": "1"])
    }

    func test_httpRequestHead_decodesPlusAndRepeatedAndValuelessNames() {
        let head = HTTPRequestHead(method: "GET", target: "/?q=one+two&q=second&flag&&na%6De=%E2%82%AC")
        XCTAssertEqual(head.query, ["q": "one two", "flag": "", "name": "€"])
    }

    func test_httpRequestHead_hasEmptyQuery_withoutQuestionMark() {
        let head = HTTPRequestHead(method: "GET", target: "/plain")
        XCTAssertEqual(head.path, "/plain")
        XCTAssertEqual(head.queryString, "")
        XCTAssertEqual(head.query, [:])
    }

    func test_httpRequestHead_looksUpHeadersCaseInsensitively_firstValueWins() {
        let head = HTTPRequestHead(method: "GET", target: "/", headers: [("Sec-WebSocket-Key", "first"), ("SEC-WEBSOCKET-KEY", "second")])
        XCTAssertEqual(head["sec-websocket-key"], "first")
        XCTAssertEqual(head["SEC-WebSocket-Key"], "first")
        XCTAssertNil(head["Sec-WebSocket-Ke"])
        XCTAssertNil(head["Sec-WebSocket-Key2"])
    }

    func test_httpRequestHead_tokens_splitsTrimsAndLowercasesAcrossFields() {
        let head = HTTPRequestHead(method: "GET", target: "/", headers: [
            ("Connection", "keep-alive, Upgrade"), ("Host", "x"), ("connection", " ,\tFoo ,"), ("Sec-WebSocket-Protocol", "Chat.V2, chat"),
        ])
        XCTAssertEqual(head.tokens("CONNECTION"), ["keep-alive", "upgrade", "foo"])
        XCTAssertEqual(head.tokens("Sec-WebSocket-Protocol", lowercased: false), ["Chat.V2", "chat"])
        XCTAssertEqual(head.tokens("Sec-WebSocket-Protocol"), ["chat.v2", "chat"])
        XCTAssertEqual(head.tokens("Missing"), [])
    }

    func test_caseInsensitiveEquals_foldsOnlyASCIILetters() {
        XCTAssertTrue("Upgrade".caseInsensitiveEquals("uPGRADE"))
        XCTAssertFalse("Upgrade".caseInsensitiveEquals("Upgrad"))
        // '@' (0x40) and '`' (0x60) differ only in bit 0x20 but are not letters.
        XCTAssertFalse("@".caseInsensitiveEquals("`"))
        XCTAssertFalse("[".caseInsensitiveEquals("{"))
    }
}
