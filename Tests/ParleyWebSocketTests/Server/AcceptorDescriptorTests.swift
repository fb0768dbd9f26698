import Glibc
import XCTest
@testable import ParleyWebSocket

/// Running out of file descriptors on `accept` must neither spin a core nor stop the server
/// for good: accepting pauses and resumes once descriptors are free again.
final class AcceptorDescriptorTests: XCTestCase {
    func test_acceptor_outOfDescriptors_pausesWithoutSpinningAndResumes() async throws {
        var configuration = WebSocketServer.Configuration(port: 0)
        configuration.loopCount = 1
        let server = WebSocketServer(configuration: configuration) { socket, _ in
            socket.onMessage { socket, message in socket.send(message) }
        }
        let port = try server.start()

        // Client sockets are created first: connect() needs no new descriptor afterwards.
        let clients = (0..<24).map { _ in socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0) }
        XCTAssertTrue(clients.allSatisfy { $0 >= 0 })
        var saved = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved), 0)
        // Fill the holes below the highest open descriptor, so the limit below leaves room for
        // exactly four more descriptors.
        var fillers: [Int32] = []
        let highest = highestOpenDescriptor()
        while true {
            let fd = open("/dev/null", O_RDONLY)
            guard fd >= 0, fd < highest else { if fd >= 0 { close(fd) }; break }
            fillers.append(fd)
        }
        var lowered = saved
        lowered.rlim_cur = rlim_t(highest + 1 + 4)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered), 0)
        var restored = false
        defer {
            if !restored { _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved) }
            for fd in clients + fillers { close(fd) }
        }

        for fd in clients { XCTAssertEqual(connectLoopback(fd, port: port), 0) }
        try await waitUntil("accepting paused for lack of descriptors") {
            server.context.descriptorPauses.load(ordering: .relaxed) > 0
        }

        // While the backlog holds connections it cannot accept, the server must idle, not spin:
        // over an observation window of 300 ms it may use only a small share of one core.
        let cpuBefore = processCPUNanoseconds()
        try await Task.sleep(for: .milliseconds(300))
        let cpuUsed = processCPUNanoseconds() - cpuBefore
        XCTAssertLessThan(cpuUsed, 150_000_000, "the process used \(cpuUsed / 1_000_000) ms of CPU in 300 ms: accept is spinning")

        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved), 0)
        restored = true
        // Every queued connection is accepted once descriptors are back: each completes a handshake.
        for fd in clients {
            XCTAssertEqual(try handshakeStatus(fd), 101)
        }
        await server.shutdown(gracePeriod: .milliseconds(500))
    }

    private func highestOpenDescriptor() -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.compactMap(Int.init).max() ?? 64
    }

    private func processCPUNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    private func connectLoopback(_ fd: Int32, port: Int) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// Sends an upgrade request on a connected blocking socket and returns the status code.
    private func handshakeStatus(_ fd: Int32) throws -> Int {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 12 else { throw WebSocketError.invalidHandshakeResponse("no response (recv \(n), errno \(errno))") }
        return Int(String(decoding: buffer[9..<12], as: UTF8.self)) ?? -1
    }

    private func waitUntil(_ what: String, timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return XCTFail("timed out waiting until \(what)") }
            await Task.yield()
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
