import Foundation
import XCTest
@testable import ParleyWebSocket

final class ServerHandshakeTests: XCTestCase {
    private let rfcKey = "dGhlIHNhbXBsZSBub25jZQ=="
    private let rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    private let statusPage = HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("up\n".utf8))

    private func server(origins: [String] = ["*"], subprotocols: [String] = []) -> ServerHandshake {
        ServerHandshake(path: "/parley", allowedOrigins: origins, subprotocols: subprotocols, routes: ["/status": statusPage])
    }

    /// A valid upgrade request to `/parley`, with header fields replaced (value nil removes one)
    /// or added.
    private func request(method: String = "GET", target: String = "/parley?token=x", version: String = "HTTP/1.1",
                         _ changes: [(String, String?)] = []) -> HTTPRequestHead {
        var headers: [(name: String, value: String)] = [
            ("Host", "server.example.com"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", rfcKey), ("Sec-WebSocket-Version", "13"),
        ]
        for (name, value) in changes {
            let index = headers.firstIndex { $0.name == name }
            switch (index, value) {
            case (let index?, let value?): headers[index].value = value
            case (let index?, nil): headers.remove(at: index)
            case (nil, let value?): headers.append((name, value))
            case (nil, nil): break
            }
        }
        return HTTPRequestHead(method: method, target: target, version: version, headers: headers)
    }

    /// The response of a `.respond` decision, failing the test on an upgrade.
    private func refusal(_ decision: ServerHandshake.Decision, file: StaticString = #filePath, line: UInt = #line)
        -> (response: HTTPResponse, includeBody: Bool)? {
        guard case .respond(let response, let includeBody) = decision else {
            XCTFail("expected a refusal, got \(decision)", file: file, line: line)
            return nil
        }
        return (response, includeBody)
    }

    /// The 101 of an `.upgrade` decision, failing the test otherwise.
    private func upgrade(_ decision: ServerHandshake.Decision, file: StaticString = #filePath, line: UInt = #line)
        -> (response: HTTPResponse, subprotocol: String?)? {
        guard case .upgrade(let response, let subprotocol) = decision else {
            XCTFail("expected an upgrade, got \(decision)", file: file, line: line)
            return nil
        }
        return (response, subprotocol)
    }

    private func header(_ response: HTTPResponse, _ name: String) -> String? {
        response.headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    private func assertStatus(_ status: Int, _ decision: ServerHandshake.Decision, file: StaticString = #filePath, line: UInt = #line) {
        guard let (response, _) = refusal(decision, file: file, line: line) else { return }
        XCTAssertEqual(response.status, status, file: file, line: line)
    }

    // MARK: - Upgrade

    func test_serverHandshake_upgradesValidRequest_with101AndRFCAccept() throws {
        let (response, subprotocol) = try XCTUnwrap(upgrade(server().decide(request(), hasCapacity: true)))
        XCTAssertEqual(response.status, 101)
        XCTAssertNil(subprotocol)
        XCTAssertEqual(response, HTTPResponse(status: 101, headers: [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", rfcAccept),
        ]))
        XCTAssertEqual(String(decoding: response.encoded(), as: UTF8.self),
                       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    }

    func test_serverHandshake_acceptsHeaderTokensCaseInsensitively() throws {
        let decision = server().decide(request([("Upgrade", "WebSocket"), ("Connection", "keep-alive, upgrade")]), hasCapacity: true)
        XCTAssertEqual(try XCTUnwrap(upgrade(decision)).response.status, 101)
    }

    func test_serverHandshake_computesAcceptFromRequestKey() throws {
        let key = Data((1...16).map { UInt8($0) }).base64EncodedString()
        let (response, _) = try XCTUnwrap(upgrade(server().decide(request([("Sec-WebSocket-Key", key)]), hasCapacity: true)))
        XCTAssertEqual(header(response, "Sec-WebSocket-Accept"), ServerHandshake.acceptValue(forKey: key))
        XCTAssertNotEqual(header(response, "Sec-WebSocket-Accept"), rfcAccept)
    }

    // MARK: - Paths and routes

    func test_serverHandshake_refusesWrongPath_with404() {
        assertStatus(404, server().decide(request(target: "/other"), hasCapacity: true))
        assertStatus(404, server().decide(request(target: "/parley/extra"), hasCapacity: true))
    }

    func test_serverHandshake_servesRouteOnGet_with200AndBody() throws {
        let (response, includeBody) = try XCTUnwrap(refusal(server().decide(request(target: "/status?verbose=1", []), hasCapacity: true)))
        XCTAssertEqual(response, statusPage)
        XCTAssertTrue(includeBody)
    }

    func test_serverHandshake_servesRouteOnHead_withoutBody() throws {
        let (response, includeBody) = try XCTUnwrap(refusal(server().decide(request(method: "HEAD", target: "/status"), hasCapacity: true)))
        XCTAssertEqual(response, statusPage)
        XCTAssertFalse(includeBody)
    }

    func test_serverHandshake_refusesPostToRoute_with405() throws {
        let (response, _) = try XCTUnwrap(refusal(server().decide(request(method: "POST", target: "/status"), hasCapacity: true)))
        XCTAssertEqual(response.status, 405)
        XCTAssertEqual(header(response, "Allow"), "GET, HEAD")
    }

    func test_serverHandshake_refusesPostToUpgradePath_with405() throws {
        let (response, _) = try XCTUnwrap(refusal(server().decide(request(method: "POST"), hasCapacity: true)))
        XCTAssertEqual(response.status, 405)
        XCTAssertEqual(header(response, "Allow"), "GET")
    }

    // MARK: - Cacheable routes (RFC 9110 13.1.2, 15.4.5)

    private let script = HTTPResponse.resource(Array("export const x = 1;\n".utf8), contentType: "text/javascript; charset=utf-8")

    private func cachingServer() -> ServerHandshake {
        ServerHandshake(path: "/parley", allowedOrigins: ["*"], subprotocols: [], routes: ["/parley/parley.js": script])
    }

    func test_httpResponse_resource_setsTypeEntityTagAndCacheControl() {
        // SHA-1("export const x = 1;\n"), first 16 bytes.
        let tag = HTTPResponse.entityTag(for: Array("export const x = 1;\n".utf8))
        XCTAssertEqual(tag.count, 34)
        XCTAssertEqual(tag, "\"" + SHA1.hash(Array("export const x = 1;\n".utf8)).prefix(16).map { String(format: "%02x", $0) }.joined() + "\"")
        XCTAssertEqual(HTTPResponse.entityTag(for: Array("abc".utf8)), "\"a9993e364706816aba3e25717850c26c\"")  // FIPS 180 "abc"
        XCTAssertEqual(header(script, "Content-Type"), "text/javascript; charset=utf-8")
        XCTAssertEqual(header(script, "ETag"), tag)
        XCTAssertEqual(header(script, "Cache-Control"), "no-cache")
    }

    func test_serverHandshake_answers304_whenIfNoneMatchNamesTheEntityTag() throws {
        let tag = try XCTUnwrap(script.entityTag)
        for condition in [tag, "W/\(tag)", "\"other\", \(tag)", "*", " \"a,b\" ,W/\(tag) "] {
            let (response, includeBody) = try XCTUnwrap(refusal(cachingServer().decide(
                request(target: "/parley/parley.js", [("If-None-Match", condition)]), hasCapacity: true)))
            XCTAssertEqual(response.status, 304, condition)
            XCTAssertFalse(includeBody)
            XCTAssertEqual(header(response, "ETag"), tag)
            XCTAssertEqual(header(response, "Cache-Control"), "no-cache")
            XCTAssertNil(header(response, "Content-Type"), "RFC 9110 15.4.5: no representation metadata beyond the validators")
        }
    }

    func test_serverHandshake_answers304_onHeadWithMatchingEntityTag() throws {
        let (response, _) = try XCTUnwrap(refusal(cachingServer().decide(
            request(method: "HEAD", target: "/parley/parley.js", [("If-None-Match", script.entityTag)]), hasCapacity: true)))
        XCTAssertEqual(response.status, 304)
    }

    func test_serverHandshake_answers200WithBody_whenIfNoneMatchDiffersOrIsMalformed() throws {
        for condition in ["\"0123\"", "no-quotes", "\"unterminated", "W/", ""] {
            let (response, includeBody) = try XCTUnwrap(refusal(cachingServer().decide(
                request(target: "/parley/parley.js", [("If-None-Match", condition)]), hasCapacity: true)))
            XCTAssertEqual(response, script, condition)
            XCTAssertTrue(includeBody)
        }
    }

    func test_serverHandshake_answers200_forRouteWithoutEntityTag_evenWithIfNoneMatch() throws {
        let (response, _) = try XCTUnwrap(refusal(server().decide(request(target: "/status", [("If-None-Match", "*")]), hasCapacity: true)))
        XCTAssertEqual(response, statusPage)
    }

    func test_httpResponse_encoded_notModified_hasNoContentLengthAndNoBody() {
        let response = HTTPResponse(status: 200, headers: [("Content-Type", "text/css"), ("ETag", "\"1\""), ("Cache-Control", "no-cache")],
                                    body: Array("body{}".utf8))
        XCTAssertEqual(response.notModified().encoded(),
                       Array("HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n".utf8))
    }

    // MARK: - Refusals (RFC 6455 4.2.1, 4.2.2)

    func test_serverHandshake_refusesMissingUpgrade_with426() throws {
        let (response, _) = try XCTUnwrap(refusal(server().decide(request([("Upgrade", nil)]), hasCapacity: true)))
        XCTAssertEqual(response.status, 426)
        XCTAssertEqual(header(response, "Upgrade"), "websocket")
        assertStatus(426, server().decide(request([("Upgrade", "h2c")]), hasCapacity: true))
    }

    func test_serverHandshake_refusesConnectionWithoutUpgrade_with400() {
        assertStatus(400, server().decide(request([("Connection", "keep-alive")]), hasCapacity: true))
        assertStatus(400, server().decide(request([("Connection", nil)]), hasCapacity: true))
    }

    func test_serverHandshake_refusesHTTP10_with400() {
        assertStatus(400, server().decide(request(version: "HTTP/1.0"), hasCapacity: true))
    }

    func test_serverHandshake_refusesUpgradeOtherThanHTTP11_with400() {
        // Only HTTP/1.1 upgrades (RFC 6455 4.1, RFC 9112): HTTP/1.9 is no version that exists.
        for version in ["HTTP/1.0", "HTTP/1.2", "HTTP/1.9"] {
            assertStatus(400, server().decide(request(version: version), hasCapacity: true))
        }
    }

    func test_serverHandshake_refusesMissingHost_with400() {
        // RFC 9112 3.2 and RFC 6455 4.2.1: an HTTP/1.1 request without Host gets 400.
        assertStatus(400, server().decide(request([("Host", nil)]), hasCapacity: true))
        assertStatus(400, server().decide(request(target: "/status", [("Host", nil)]), hasCapacity: true))
    }

    func test_serverHandshake_refusesTwoHostFields_with400() {
        // RFC 9112 3.2: more than one Host field line gets 400, whatever the request.
        assertStatus(400, server().decide(request([("host", "other.example.com")]), hasCapacity: true))
        assertStatus(400, server().decide(request(target: "/status", [("HOST", "server.example.com")]), hasCapacity: true))
    }

    func test_serverHandshake_refusesInvalidHostValue_with400() {
        for value in ["a.example, b.example", "a.example b.example", "a\tb"] {
            assertStatus(400, server().decide(request([("Host", value)]), hasCapacity: true))
        }
    }

    func test_serverHandshake_refusesTwoOriginFields_with403_whenOriginsAreRestricted() {
        let handshake = server(origins: ["https://good.example"])
        var twoGood = request([("Origin", "https://good.example")])
        twoGood.headers.append(("Origin", "https://good.example"))
        assertStatus(403, handshake.decide(twoGood, hasCapacity: true))
        var goodThenEvil = request([("Origin", "https://good.example")])
        goodThenEvil.headers.append(("origin", "https://evil.example"))
        assertStatus(403, handshake.decide(goodThenEvil, hasCapacity: true))
    }

    func test_serverHandshake_allowsTwoOriginFields_withStar() {
        var twoOrigins = request([("Origin", "https://a.example")])
        twoOrigins.headers.append(("Origin", "https://b.example"))
        XCTAssertNotNil(upgrade(server(origins: ["*"]).decide(twoOrigins, hasCapacity: true)))
    }

    func test_serverHandshake_refusesVersion8_with426AndVersion13Header() throws {
        let (response, _) = try XCTUnwrap(refusal(server().decide(request([("Sec-WebSocket-Version", "8")]), hasCapacity: true)))
        XCTAssertEqual(response.status, 426)
        XCTAssertEqual(header(response, "Sec-WebSocket-Version"), "13")
        assertStatus(426, server().decide(request([("Sec-WebSocket-Version", nil)]), hasCapacity: true))
    }

    func test_serverHandshake_refusesBadKey_with400() {
        let fifteenBytes = Data(repeating: 7, count: 15).base64EncodedString()
        let seventeenBytes = Data(repeating: 7, count: 17).base64EncodedString()
        for key: String? in [nil, "", "not base64!", fifteenBytes, seventeenBytes, "dGhlIHNhbXBsZSBub25jZQ"] {
            assertStatus(400, server().decide(request([("Sec-WebSocket-Key", key)]), hasCapacity: true))
        }
    }

    func test_serverHandshake_refusesDisallowedOrigin_with403() {
        let handshake = server(origins: ["https://good.example"])
        assertStatus(403, handshake.decide(request([("Origin", "https://evil.example")]), hasCapacity: true))
        assertStatus(403, handshake.decide(request([("Origin", "https://good.example.evil")]), hasCapacity: true))
    }

    func test_serverHandshake_allowsListedOrigin_caseInsensitively() {
        let handshake = server(origins: ["https://good.example"])
        XCTAssertNotNil(upgrade(handshake.decide(request([("Origin", "https://good.example")]), hasCapacity: true)))
        XCTAssertNotNil(upgrade(handshake.decide(request([("Origin", "HTTPS://Good.Example")]), hasCapacity: true)))
    }

    func test_serverHandshake_allowsRequestWithoutOrigin() {
        XCTAssertNotNil(upgrade(server(origins: ["https://good.example"]).decide(request(), hasCapacity: true)))
        XCTAssertNotNil(upgrade(server(origins: []).decide(request(), hasCapacity: true)))
    }

    func test_serverHandshake_allowsEveryOrigin_withStar() {
        XCTAssertNotNil(upgrade(server(origins: ["*"]).decide(request([("Origin", "https://anything.example")]), hasCapacity: true)))
    }

    func test_serverHandshake_refusesWithoutCapacity_with503() throws {
        let (response, _) = try XCTUnwrap(refusal(server().decide(request(), hasCapacity: false)))
        XCTAssertEqual(response.status, 503)
        XCTAssertEqual(header(response, "Retry-After"), "1")
    }

    // MARK: - Subprotocols and extensions

    func test_serverHandshake_selectsSubprotocol_inServerOrder() throws {
        let handshake = server(subprotocols: ["chat.v2", "chat.v1"])
        let (response, subprotocol) = try XCTUnwrap(upgrade(handshake.decide(
            request([("Sec-WebSocket-Protocol", "chat.v1, chat.v2")]), hasCapacity: true)))
        XCTAssertEqual(subprotocol, "chat.v2")
        XCTAssertEqual(header(response, "Sec-WebSocket-Protocol"), "chat.v2")
    }

    func test_serverHandshake_selectsOnlyOfferedSubprotocol() throws {
        let handshake = server(subprotocols: ["chat.v2", "chat.v1"])
        let (response, subprotocol) = try XCTUnwrap(upgrade(handshake.decide(
            request([("Sec-WebSocket-Protocol", "other, chat.v1")]), hasCapacity: true)))
        XCTAssertEqual(subprotocol, "chat.v1")
        XCTAssertEqual(header(response, "Sec-WebSocket-Protocol"), "chat.v1")
    }

    func test_serverHandshake_selectsNoSubprotocol_whenNoneMatches() throws {
        let handshake = server(subprotocols: ["chat.v2", "chat.v1"])
        for offer: String? in [nil, "other", "CHAT.V1"] {
            let (response, subprotocol) = try XCTUnwrap(upgrade(handshake.decide(
                request([("Sec-WebSocket-Protocol", offer)]), hasCapacity: true)))
            XCTAssertNil(subprotocol, "offer \(offer ?? "none")")
            XCTAssertNil(header(response, "Sec-WebSocket-Protocol"), "offer \(offer ?? "none")")
        }
    }

    func test_serverHandshake_declinesPermessageDeflate_byOmittingExtensionsHeader() throws {
        let (response, _) = try XCTUnwrap(upgrade(server().decide(
            request([("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]), hasCapacity: true)))
        XCTAssertEqual(response.status, 101)
        XCTAssertNil(header(response, "Sec-WebSocket-Extensions"))
    }

    // MARK: - HTTPResponse

    func test_httpResponse_encoded_addsContentLengthAndConnectionClose() {
        let response = HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("hello".utf8))
        XCTAssertEqual(String(decoding: response.encoded(), as: UTF8.self),
                       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
    }

    func test_httpResponse_encoded_omitsBody_whenIncludeBodyIsFalse() {
        let response = HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("hello".utf8))
        XCTAssertEqual(String(decoding: response.encoded(includeBody: false), as: UTF8.self),
                       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
    }

    func test_httpResponse_plain_usesReasonPhraseAsBody() {
        let response = HTTPResponse.plain(404)
        XCTAssertEqual(response.status, 404)
        XCTAssertEqual(response.body, Array("Not Found\n".utf8))
        XCTAssertEqual(String(decoding: response.encoded(), as: UTF8.self),
                       "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n"
                       + "Connection: close\r\n\r\nNot Found\n")
    }

    func test_httpResponse_encoded_parsesBackWithHeadParser() throws {
        let encoded = HTTPResponse.plain(426, extraHeaders: [("Sec-WebSocket-Version", "13")]).encoded()
        var parser = HTTPHeadParser(maxBytes: 1024)
        let result = try encoded.withUnsafeBytes { try parser.feed($0) }
        XCTAssertEqual(result, .complete(lines: [
            "HTTP/1.1 426 Upgrade Required", "Content-Type: text/plain; charset=utf-8", "Sec-WebSocket-Version: 13",
            "Content-Length: 17", "Connection: close",
        ], remainder: Array("Upgrade Required\n".utf8)))
    }
}
