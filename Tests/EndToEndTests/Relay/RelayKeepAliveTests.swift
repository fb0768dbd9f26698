import Foundation
import Glibc
import XCTest

/// `parley-server --keep-alive-timeout`: how long an answered HTTP connection waits for its next
/// request, over a real TCP connection that pipelines two requests.
final class RelayKeepAliveTests: XCTestCase {
    func test_relayKeepAliveTimeout_answersPipelinedRequestsOnOneConnection_thenClosesWhenIdle() async throws {
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1", "--keep-alive-timeout", "300"],
                                                  for: self)
        let text = try Self.pipelineTwoRequests(port: server.port)
        XCTAssertEqual(text.components(separatedBy: "HTTP/1.1 200 OK").count - 1, 2, "both requests answered: \(text.prefix(400))")
        XCTAssertEqual(text.components(separatedBy: "Connection: keep-alive").count - 1, 2)
    }

    func test_relayKeepAliveTimeoutZero_answersOneRequest_andCloses() async throws {
        let server = try await ChildProcess.start("parley-server", ["--port", "0", "--loops", "1", "--keep-alive-timeout", "0"],
                                                  for: self)
        let text = try Self.pipelineTwoRequests(port: server.port)
        XCTAssertEqual(text.components(separatedBy: "HTTP/1.1 200 OK").count - 1, 1, "one answer, then the close: \(text.prefix(400))")
        XCTAssertTrue(text.contains("Connection: close"))
    }

    /// Sends two GETs of the browser client in one write and reads until the server closes (a
    /// 5-second receive timeout fails the test rather than hanging it).
    private static func pipelineTwoRequests(port: Int) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        let request = "GET /parley/parley.js HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n"
        let bytes = Array((request + request).utf8)
        guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw POSIXError(.EIO) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while received.count < 4_000_000 {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { break }
            guard count > 0 else { throw POSIXError(.ETIMEDOUT) }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
