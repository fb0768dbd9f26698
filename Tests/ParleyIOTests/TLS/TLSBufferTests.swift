import Foundation
import Glibc
import Synchronization
import XCTest
@_spi(IO) @testable import ParleyIO

/// A busy connection keeps OpenSSL's buffers and releases them once idle; reads take every
/// record ready. Driven on a real event loop (the idle check is a loop timer) over loopback.
final class TLSBufferTests: XCTestCase {
    private let group = EventLoopGroup(loopCount: 1, name: "parley-tls-buffers-test")

    override func tearDown() {
        group.shutdown()
    }

    /// Both ends of a TLS connection, handed to the loop thread (they are used there only).
    private final class Pair: @unchecked Sendable {
        let client: TLSConnection
        let server: TLSConnection

        init(_ pair: (client: TLSConnection, server: TLSConnection)) {
            client = pair.client
            server = pair.server
        }
    }

    /// Runs `body` on `loop`'s thread and returns its result (waits up to the event timeout).
    private func onLoop<T: Sendable>(_ loop: EventLoop, after delay: Duration? = nil, _ body: @escaping @Sendable () -> T) -> T? {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<T?>(nil)
        let task: @Sendable () -> Void = {
            result.withLock { $0 = body() }
            done.signal()
        }
        if let delay { loop.execute(after: delay, task) } else { loop.execute(task) }
        guard done.wait(timeout: .now() + .seconds(Int(TLSLoopback.timeout.components.seconds))) == .success else {
            XCTFail("the loop did not run the task")
            return nil
        }
        return result.withLock { $0 }
    }

    private func establishedPair() throws -> Pair {
        let fixture = try TLSFixture()
        let pair = Pair(try fixture.pair())
        let outcome = TLSLoopback.handshake(pair.client, pair.server)
        XCTAssertEqual(outcome.server, .completed, "\(outcome.server)")
        return pair
    }

    func test_connection_keepsBuffersWhileBusy_andReleasesThemOnceIdle() throws {
        let pair = try establishedPair()
        defer { pair.client.closeSocket(); pair.server.closeSocket() }
        pair.server.idleCheckInterval = .milliseconds(50)
        let loop = group.next()
        // Four exchanges: 8 reads and writes by the server (a few more if a read came early),
        // short of busy.
        let warm = onLoop(loop) {
            for index in 0..<4 { _ = Self.echo(index, pair) }
            return pair.server.keepsBuffers
        }
        XCTAssertEqual(warm, false)
        let busy = onLoop(loop) {
            (4..<8).allSatisfy { Self.echo($0, pair) } && pair.server.keepsBuffers
        }
        XCTAssertEqual(busy, true, "16 reads and writes on a loop make the connection keep its buffers")
        // No traffic: the check 50 ms later releases them (timers fire in deadline order).
        let idle = onLoop(loop, after: .milliseconds(300)) { pair.server.keepsBuffers }
        XCTAssertEqual(idle, false, "an idle connection releases its buffers at the next check")
        // Traffic after the release is intact, and makes the connection busy again.
        let again = onLoop(loop) {
            var intact = true
            for index in 0..<8 { intact = Self.echo(index, pair) && intact }
            return intact && pair.server.keepsBuffers
        }
        XCTAssertEqual(again, true)
    }

    func test_connection_staysBusy_whileTrafficGoesOnAcrossChecks() throws {
        let pair = try establishedPair()
        defer { pair.client.closeSocket(); pair.server.closeSocket() }
        pair.server.idleCheckInterval = .milliseconds(200)
        let loop = group.next()
        XCTAssertEqual(onLoop(loop) { (0..<8).allSatisfy { Self.echo($0, pair) } && pair.server.keepsBuffers }, true)
        // Within the interval, enough traffic for the check to find it busy.
        XCTAssertEqual(onLoop(loop, after: .milliseconds(50)) { (0..<8).allSatisfy { Self.echo($0, pair) } }, true)
        XCTAssertEqual(onLoop(loop, after: .milliseconds(300)) { pair.server.keepsBuffers }, true,
                       "a connection busy in the last interval keeps its buffers")
    }

    func test_connection_closedWhileBusy_stopsItsIdleCheck() throws {
        let pair = try establishedPair()
        defer { pair.client.closeSocket() }
        pair.server.idleCheckInterval = .milliseconds(50)
        let loop = group.next()
        XCTAssertEqual(onLoop(loop) { (0..<8).allSatisfy { Self.echo($0, pair) } && pair.server.keepsBuffers }, true)
        let stopped = onLoop(loop) {
            Transport.tls(pair.server).close()
            return pair.server.keepsBuffers
        }
        XCTAssertEqual(stopped, false)
        // The cancelled check never runs: a later task finds the loop well.
        XCTAssertEqual(onLoop(loop, after: .milliseconds(150)) { true }, true)
    }

    func test_connection_keepsReleasingPerRecord_offAnEventLoop() throws {
        let pair = try establishedPair()
        defer { pair.client.closeSocket(); pair.server.closeSocket() }
        for index in 0..<20 { XCTAssertTrue(Self.echo(index, pair)) }
        XCTAssertFalse(pair.server.keepsBuffers, "no loop, no idle check: buffers are not kept")
    }

    func test_read_takesEveryRecordReady_inOneCall() throws {
        let pair = try establishedPair()
        defer { pair.client.closeSocket(); pair.server.closeSocket() }
        // Three writes: three records (TLS 1.3 adds 22 bytes to each).
        for text in ["one,", "two,", "three"] {
            XCTAssertEqual(TLSLoopback.writeAll(Array(text.utf8), to: pair.client), .bytes(text.utf8.count))
        }
        try Self.waitUntil(pair.server.fd, holds: 13 + 3 * 22)
        var buffer = [UInt8](repeating: 0, count: 1024)
        let outcome = buffer.withUnsafeMutableBytes { pair.server.read(into: $0) }
        XCTAssertEqual(outcome, .bytes(13))
        XCTAssertEqual(String(decoding: buffer[..<13], as: UTF8.self), "one,two,three")
        XCTAssertFalse(pair.server.hasBufferedInput)
    }

    func test_read_reportsRecordsLeftInside_whenTheBufferFills() throws {
        let pair = try establishedPair()
        defer { pair.client.closeSocket(); pair.server.closeSocket() }
        for text in ["abcd", "efgh"] {
            XCTAssertEqual(TLSLoopback.writeAll(Array(text.utf8), to: pair.client), .bytes(4))
        }
        try Self.waitUntil(pair.server.fd, holds: 8 + 2 * 22)
        var buffer = [UInt8](repeating: 0, count: 6)
        // The buffer fills from both records; the rest waits inside, which the socket will not say.
        XCTAssertEqual(buffer.withUnsafeMutableBytes { pair.server.read(into: $0) }, .bytes(6))
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self), "abcdef")
        XCTAssertTrue(pair.server.hasBufferedInput)
        XCTAssertEqual(buffer.withUnsafeMutableBytes { pair.server.read(into: $0) }, .bytes(2))
        XCTAssertEqual(String(decoding: buffer[..<2], as: UTF8.self), "gh")
        XCTAssertFalse(pair.server.hasBufferedInput)
    }

    /// Waits until `fd`'s receive queue holds at least `count` bytes (FIONREAD).
    private static func waitUntil(_ fd: Int32, holds count: Int32) throws {
        let deadline = ContinuousClock.now + TLSLoopback.timeout
        var queued: Int32 = 0
        while ContinuousClock.now < deadline {
            guard ioctl(fd, UInt(FIONREAD), &queued) == 0 else { throw TLSLoopback.Failure(description: "FIONREAD failed") }
            if queued >= count { return }
            TLSLoopback.wait(fd, readable: true, milliseconds: 10)
        }
        throw TLSLoopback.Failure(description: "the socket holds \(queued) bytes, not \(count)")
    }

    /// The client sends a message, the server echoes it: one read and one write on the server.
    private static func echo(_ index: Int, _ pair: Pair) -> Bool {
        let message = Array("message \(index)".utf8)
        let there = TLSLoopback.transfer(message, from: pair.client, to: pair.server)
        let back = TLSLoopback.transfer(there, from: pair.server, to: pair.client)
        return back == message
    }
}
