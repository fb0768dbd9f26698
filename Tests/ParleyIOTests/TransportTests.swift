import CParleySystem
import XCTest
@_spi(IO) @testable import ParleyIO

/// The one read/write path and the socket calls under it, in their Linux and portable
/// variants: outcomes of reads and writes, no SIGPIPE, and the flags of new descriptors.
final class TransportTests: XCTestCase {
    private var openDescriptors: [Int32] = []

    override func tearDown() {
        for fd in openDescriptors { closeDescriptor(fd) }
        openDescriptors = []
    }

    private func socketPair() -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, socketStreamType, 0, &fds), 0)
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        openDescriptors += fds
        return (fds[0], fds[1])
    }

    private func isNonBlockingAndCloseOnExec(_ fd: Int32) -> Bool {
        fcntl(fd, F_GETFL) & O_NONBLOCK != 0 && fcntl(fd, F_GETFD) & FD_CLOEXEC != 0
    }

    func test_transport_read_reportsBytesThenWouldBlockThenEndOfStream() {
        let (a, b) = socketPair()
        let transport = Transport.plain(a)
        var buffer = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(buffer.withUnsafeMutableBytes { transport.read(into: $0) }, .wouldBlock(.read))
        XCTAssertEqual(Array("abc".utf8).withUnsafeBytes { Transport.plain(b).write($0) }, .bytes(3))
        XCTAssertEqual(buffer.withUnsafeMutableBytes { transport.read(into: $0) }, .bytes(3))
        XCTAssertEqual(Array(buffer.prefix(3)), Array("abc".utf8))
        Transport.plain(b).shutdownOutput()
        XCTAssertEqual(buffer.withUnsafeMutableBytes { transport.read(into: $0) }, .endOfStream)
    }

    func test_transport_write_wouldBlockWhenFull_thenFailsWithEPIPE_withoutSIGPIPE() {
        let (a, b) = socketPair()
        let transport = Transport.plain(a)
        let chunk = [UInt8](repeating: 7, count: 64 * 1024)
        var blocked = false
        for _ in 0..<1000 where !blocked {
            let result = chunk.withUnsafeBytes { bytes in
                withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { vectors in
                    vectors[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: 1000)
                    vectors[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress! + 1000), iov_len: bytes.count - 1000)
                    return transport.write(vectors: vectors.baseAddress!, count: 2)
                }
            }
            if result == .wouldBlock(.write) { blocked = true } else if case .bytes = result {} else { XCTFail("\(result)") }
        }
        XCTAssertTrue(blocked, "a peer that never reads fills the socket buffer")
        // With SIGPIPE at its default action, a write to a closed peer must still only fail.
        let previous = signal(SIGPIPE, SIG_DFL)
        defer { signal(SIGPIPE, previous) }
        openDescriptors.removeAll { $0 == b }
        closeDescriptor(b)
        XCTAssertEqual(chunk.withUnsafeBytes { transport.write($0) }, .failed(EPIPE))
    }

    func test_socketAndAccept_giveNonBlockingCloseOnExecDescriptors_inBothVariants() throws {
        for portable in [false, true] {
            let listener = try SystemSocket.listen(host: "127.0.0.1", port: 0, backlog: 4, portable: portable).get()
            openDescriptors.append(listener.fd)
            XCTAssertTrue(isNonBlockingAndCloseOnExec(listener.fd), "portable: \(portable)")
            guard case .failure(let nothing) = SystemSocket.accept(listener.fd, portable: portable) else {
                return XCTFail("nothing to accept yet")
            }
            XCTAssertTrue(nothing.code == EAGAIN || nothing.code == EWOULDBLOCK)
            let address = try SystemSocket.resolve(host: "127.0.0.1", port: listener.port).get()[0]
            let client = try SystemSocket.startConnect(to: address, portable: portable).get()
            openDescriptors.append(client)
            XCTAssertTrue(isNonBlockingAndCloseOnExec(client), "portable: \(portable)")
            var pending = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
            XCTAssertEqual(poll(&pending, 1, 5_000), 1)
            let accepted = try SystemSocket.accept(listener.fd, portable: portable).get()
            openDescriptors.append(accepted)
            XCTAssertTrue(isNonBlockingAndCloseOnExec(accepted), "portable: \(portable)")
            SystemSocket.enableKeepAlive(accepted, idleSeconds: 11, intervalSeconds: 3, count: 2)
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            XCTAssertEqual(getsockopt(accepted, SOL_SOCKET, SO_KEEPALIVE, &value, &length), 0)
            XCTAssertEqual(value, 1)
        }
    }

    func test_randomBytes_fillTheBuffer_andDiffer() {
        var first = [UInt8](repeating: 0, count: 64)
        var second = [UInt8](repeating: 0, count: 64)
        XCTAssertEqual(first.withUnsafeMutableBytes { cps_random_bytes($0.baseAddress, $0.count) }, 0)
        XCTAssertEqual(second.withUnsafeMutableBytes { cps_random_bytes($0.baseAddress, $0.count) }, 0)
        XCTAssertNotEqual(first, second)
        XCTAssertGreaterThanOrEqual(EventLoopGroup.coreCount, 1)
    }
}
