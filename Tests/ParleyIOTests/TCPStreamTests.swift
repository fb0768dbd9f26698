import Foundation
import Glibc
import Synchronization
import XCTest
@testable import ParleyIO

/// The plain TCP stream against a blocking peer on 127.0.0.1.
final class TCPStreamTests: XCTestCase {
    private let group = EventLoopGroup(loopCount: 1, name: "parley-tcp-test")

    override func tearDown() {
        group.shutdown()
    }

    /// What the stream reported, posted from the loop thread.
    private final class Events: @unchecked Sendable {
        private let condition = NSCondition()
        private var items: [String] = []

        func put(_ item: String) {
            condition.lock()
            items.append(item)
            condition.broadcast()
            condition.unlock()
        }

        /// Waits until an item satisfying `matches` was posted (up to 5 s); returns all so far.
        func wait(for what: String, _ matches: ([String]) -> Bool) -> [String] {
            condition.lock()
            defer { condition.unlock() }
            let deadline = Date().addingTimeInterval(5)
            while !matches(items) && condition.wait(until: deadline) {}
            XCTAssertTrue(matches(items), "timed out waiting for \(what); got \(items)")
            return items
        }
    }

    private func open(port: Int, events: Events) {
        let loop = group.next()
        loop.execute {
            var received: [UInt8] = []
            let stream = TCPStream(loop: loop) { stream, event in
                switch event {
                case .connected:
                    events.put("connected")
                    stream.write(Array("hello\n".utf8))
                case .received(let bytes):
                    received += bytes
                    events.put("received " + String(decoding: received, as: UTF8.self))
                case .drained:
                    break
                case .closed(let code):
                    events.put("closed \(code)")
                }
            }
            stream.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
        }
    }

    func test_stream_connectsWritesReadsAndReportsPeerClose() throws {
        let listener = try XCTUnwrap(try? SystemSocket.listen(host: "127.0.0.1", port: 0, backlog: 4, portable: false).get())
        defer { close(listener.fd) }
        let events = Events()
        open(port: listener.port, events: events)
        // The listener is non-blocking: wait for the connection with poll.
        var pollFD = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&pollFD, 1, 5000), 1)
        let peer = accept(listener.fd, nil, nil)
        XCTAssertGreaterThanOrEqual(peer, 0)
        var buffer = [UInt8](repeating: 0, count: 64)
        var peerPoll = pollfd(fd: peer, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&peerPoll, 1, 5000), 1)
        let n = recv(peer, &buffer, buffer.count, 0)
        XCTAssertEqual(String(decoding: buffer[..<max(n, 0)], as: UTF8.self), "hello\n")
        _ = send(peer, "world", 5, Int32(MSG_NOSIGNAL))
        _ = events.wait(for: "the reply") { $0.contains("received world") }
        close(peer)
        let all = events.wait(for: "the close") { $0.last == "closed 0" }
        XCTAssertEqual(all.first, "connected")
    }

    func test_stream_reportsConnectionRefused() throws {
        // A port that was free a moment ago, with nothing listening.
        let listener = try XCTUnwrap(try? SystemSocket.listen(host: "127.0.0.1", port: 0, backlog: 1, portable: false).get())
        close(listener.fd)
        let events = Events()
        open(port: listener.port, events: events)
        XCTAssertEqual(events.wait(for: "the refusal") { !$0.isEmpty }, ["closed \(ECONNREFUSED)"])
    }
}
