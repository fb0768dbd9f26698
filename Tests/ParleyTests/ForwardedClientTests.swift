import ParleyWebSocket
import XCTest
@testable import Parley

/// Who a request comes from behind proxies: `X-Forwarded-For` and `X-Forwarded-Proto` believed
/// only from a trusted proxy, and then only up to the first address that is not one.
final class ForwardedClientTests: XCTestCase {
    private func request(_ headers: [(String, String)]) -> HTTPRequestHead {
        HTTPRequestHead(method: "GET", target: "/parley", headers: headers.map { (name: $0.0, value: $0.1) })
    }

    private let forwarded = ForwardedClient(trustedProxies: ["10.0.0.5", "::1", "192.168.1.1"])

    func test_forwardedClient_ignoresHeaders_fromUntrustedPeer() {
        let head = request([("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https")])
        let resolved = forwarded.resolve(head, peer: "203.0.113.9:5000", secure: false)
        XCTAssertEqual(resolved.address, "203.0.113.9:5000")
        XCTAssertFalse(resolved.secure)
        let none = ForwardedClient(trustedProxies: []).resolve(head, peer: "10.0.0.5:1", secure: true)
        XCTAssertEqual(none.address, "10.0.0.5:1")
        XCTAssertTrue(none.secure)
    }

    func test_forwardedClient_takesRightmostUntrustedAddress_fromTrustedProxy() {
        // The client wrote "1.1.1.1" itself; the first proxy saw it come from 198.51.100.7.
        let head = request([("X-Forwarded-For", "1.1.1.1, 198.51.100.7"), ("x-forwarded-for", "192.168.1.1"),
                            ("X-Forwarded-Proto", "https")])
        let resolved = forwarded.resolve(head, peer: "10.0.0.5:40000", secure: false)
        XCTAssertEqual(resolved.address, "198.51.100.7")
        XCTAssertTrue(resolved.secure)
    }

    func test_forwardedClient_handlesIPv6AndMappedAddressesAndPorts() {
        let head = request([("X-Forwarded-For", "[2001:db8::1]:4711")])
        XCTAssertEqual(forwarded.resolve(head, peer: "[::1]:9000", secure: true).address, "2001:db8::1")
        // An IPv4 proxy seen through an IPv6 socket.
        let mapped = forwarded.resolve(request([("X-Forwarded-For", "198.51.100.7:80")]), peer: "[::ffff:10.0.0.5]:9000", secure: false)
        XCTAssertEqual(mapped.address, "198.51.100.7")
        XCTAssertFalse(mapped.secure, "no X-Forwarded-Proto: the connection's own scheme")
    }

    func test_forwardedClient_stopsAtGarbage_andKeepsPeerWithoutHeader() {
        let garbage = forwarded.resolve(request([("X-Forwarded-For", "unknown, <script>")]), peer: "10.0.0.5:1", secure: false)
        XCTAssertEqual(garbage.address, "10.0.0.5:1")
        let allTrusted = forwarded.resolve(request([("X-Forwarded-For", "192.168.1.1")]), peer: "10.0.0.5:1", secure: false)
        XCTAssertEqual(allTrusted.address, "192.168.1.1", "every hop trusted: the leftmost")
        let http = forwarded.resolve(request([("X-Forwarded-Proto", "http")]), peer: "10.0.0.5:1", secure: true)
        XCTAssertEqual(http.address, "10.0.0.5:1")
        XCTAssertFalse(http.secure)
    }
}
