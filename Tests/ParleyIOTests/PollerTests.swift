import CParleySystem
import Foundation
import XCTest
@_spi(IO) @testable import ParleyIO

/// The poller contract, run against both backends: readiness bits, hang-up and error, interest
/// changes, deregistration, fairness over many descriptors, and the wake-ups of each kind.
/// Waits use a timeout of 0 where readiness is already there, and a bounded one otherwise.
final class PollerTests: XCTestCase {
    private static let backends: [IOBackend] = [.epoll, .poll]
    /// A bound on waits that must return an event: far above any scheduling delay.
    private static let waitLimit: Int32 = 5_000

    private var openDescriptors: [Int32] = []

    override func tearDown() {
        for fd in openDescriptors { closeDescriptor(fd) }
        openDescriptors = []
    }

    /// A connected, non-blocking pair of stream sockets (closed by tearDown unless closed first).
    private func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, socketStreamType, 0, &fds), 0, "socketpair: errno \(errno)")
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        openDescriptors += fds
        return (fds[0], fds[1])
    }

    private func close(_ fd: Int32) {
        openDescriptors.removeAll { $0 == fd }
        closeDescriptor(fd)
    }

    /// Waits once; returns the events by token.
    private func wait(_ poller: Poller, timeout: Int32 = 0) -> [UInt64: IOEvents] {
        let buffer = UnsafeMutablePointer<cps_event>.allocate(capacity: Poller.maxEvents)
        defer { buffer.deallocate() }
        let count = poller.wait(into: buffer, capacity: Poller.maxEvents, timeoutMilliseconds: timeout)
        var events: [UInt64: IOEvents] = [:]
        for i in 0..<count {
            XCTAssertNil(events[buffer[i].token], "token \(buffer[i].token) reported twice in one wait")
            events[buffer[i].token] = IOEvents(rawValue: buffer[i].events)
        }
        return events
    }

    private func send(_ fd: Int32, _ text: String) {
        XCTAssertEqual(text.utf8CString.withUnsafeBytes { cps_send(fd, $0.baseAddress, text.utf8.count) }, text.utf8.count)
    }

    private func forEachBackend(_ body: (IOBackend, Poller) throws -> Void) throws {
        for backend in Self.backends {
            let poller = try Poller(backend: backend)
            defer { poller.close() }
            XCTAssertEqual(poller.backend, backend)
            try body(backend, poller)
        }
    }

    func test_poller_reportsReadOnlyOnceBytesArrive_withEachBackend() throws {
        try forEachBackend { backend, poller in
            let (a, b) = try socketPair()
            XCTAssertEqual(poller.register(a, interest: .read, token: 7), 0)
            XCTAssertEqual(wait(poller), [:], "\(backend): nothing to read yet")
            send(b, "hi")
            let events = wait(poller, timeout: Self.waitLimit)
            XCTAssertEqual(events, [7: .read], "\(backend)")
            // Level-triggered: still readable, reported again.
            XCTAssertEqual(wait(poller), [7: .read], "\(backend)")
        }
    }

    func test_poller_reportsWrite_whenAskedAndTheSocketHasRoom() throws {
        try forEachBackend { backend, poller in
            let (a, _) = try socketPair()
            XCTAssertEqual(poller.register(a, interest: [.read, .write], token: 3), 0)
            XCTAssertEqual(wait(poller), [3: .write], "\(backend)")
        }
    }

    func test_poller_reportsHangUpAndRead_whenThePeerCloses() throws {
        try forEachBackend { backend, poller in
            let (a, b) = try socketPair()
            XCTAssertEqual(poller.register(a, interest: .read, token: 9), 0)
            close(b)
            let events = wait(poller, timeout: Self.waitLimit)[9] ?? []
            XCTAssertTrue(events.contains(.hangUp), "\(backend): \(events)")
            XCTAssertTrue(events.contains(.read), "\(backend): the end of the stream is readable")
            // The read that follows sees the end of the stream.
            var byte: UInt8 = 0
            let result = withUnsafeMutableBytes(of: &byte) { Transport.plain(a).read(into: $0) }
            XCTAssertEqual(result, .endOfStream, "\(backend)")
        }
    }

    func test_poller_reportsError_whenAConnectIsRefused() throws {
        try forEachBackend { backend, poller in
            // A port with nothing listening: bind one, note it, close it.
            let listener = try SystemSocket.listen(host: "127.0.0.1", port: 0, backlog: 1, portable: false).get()
            closeDescriptor(listener.fd)
            let address = try SystemSocket.resolve(host: "127.0.0.1", port: listener.port).get()[0]
            guard case .success(let fd) = SystemSocket.startConnect(to: address, portable: backend == .poll) else {
                return  // refused at once: nothing to poll (allowed by the contract)
            }
            openDescriptors.append(fd)
            XCTAssertEqual(poller.register(fd, interest: .write, token: 5), 0)
            let events = wait(poller, timeout: Self.waitLimit)[5] ?? []
            XCTAssertTrue(events.contains(.error), "\(backend): \(events)")
            XCTAssertEqual(cps_socket_error(fd), ECONNREFUSED, "\(backend)")
        }
    }

    func test_poller_followsModifiedInterest_andNewToken() throws {
        try forEachBackend { backend, poller in
            let (a, b) = try socketPair()
            send(b, "x")
            XCTAssertEqual(poller.register(a, interest: .read, token: 1), 0)
            XCTAssertEqual(wait(poller), [1: .read], "\(backend)")
            poller.modify(a, interest: .write, token: 2)
            XCTAssertEqual(wait(poller), [2: .write], "\(backend): readable, but only writes are watched")
            poller.modify(a, interest: [.read, .write], token: 3)
            XCTAssertEqual(wait(poller), [3: [.read, .write]], "\(backend)")
        }
    }

    func test_poller_reportsNothing_afterDeregister_andAcceptsTheDescriptorAgain() throws {
        try forEachBackend { backend, poller in
            let (a, b) = try socketPair()
            send(b, "x")
            XCTAssertEqual(poller.register(a, interest: .read, token: 1), 0)
            poller.deregister(a)
            XCTAssertEqual(wait(poller), [:], "\(backend)")
            XCTAssertEqual(poller.register(a, interest: .read, token: 4), 0)
            XCTAssertEqual(wait(poller), [4: .read], "\(backend)")
        }
    }

    func test_poller_servesEveryReadyDescriptorInTwoWaits_whenMoreAreReadyThanOneWaitReturns() throws {
        SystemSocket.raiseOpenFileLimit()
        try forEachBackend { backend, poller in
            // 2/3 of them stay registered: more than one wait returns.
            let pairCount = Poller.maxEvents * 3 / 2 + 30
            var pairs: [(Int32, Int32)] = []
            for index in 0..<pairCount {
                let pair = try socketPair()
                pairs.append(pair)
                XCTAssertEqual(poller.register(pair.0, interest: .read, token: UInt64(index + 1)), 0)
            }
            // Deregister every third (the poll backend moves its last entry into the hole).
            var expected = Set<UInt64>()
            for (index, pair) in pairs.enumerated() {
                if index % 3 == 0 { poller.deregister(pair.0) } else { expected.insert(UInt64(index + 1)) }
                send(pair.1, "x")
            }
            // Nothing is consumed, so every descriptor stays ready: the second wait must serve
            // those the first could not return, rather than the same ones again.
            var seen = Set<UInt64>()
            for _ in 0..<2 {
                let events = wait(poller)
                XCTAssertLessThanOrEqual(events.count, Poller.maxEvents)
                for (token, bits) in events {
                    XCTAssertEqual(bits, .read, "\(backend)")
                    XCTAssertTrue(expected.contains(token), "\(backend): token \(token) was deregistered")
                    seen.insert(token)
                }
            }
            XCTAssertGreaterThan(expected.count, Poller.maxEvents)
            XCTAssertEqual(seen, expected, "\(backend)")
            for pair in pairs {
                close(pair.0)
                close(pair.1)
            }
        }
    }

    func test_wakeup_wakesAWaitingPoller_fromAnotherThread_andDrains() throws {
        for portable in [false, true] {
            let wakeup = try Wakeup(portable: portable)
            defer { wakeup.close() }
            XCTAssertEqual(wakeup.readFD == wakeup.writeFD, !portable, "an eventfd is one descriptor, a pipe two")
            let poller = try Poller(backend: portable ? .poll : .epoll)
            defer { poller.close() }
            XCTAssertEqual(poller.register(wakeup.readFD, interest: .read, token: 0), 0)
            XCTAssertEqual(wait(poller), [:])
            let writeFD = wakeup.writeFD
            Thread.detachNewThread {
                // Many signals before the loop looks: they coalesce into one readiness.
                for _ in 0..<100 { cps_wakeup_signal(writeFD) }
            }
            XCTAssertEqual(wait(poller, timeout: Self.waitLimit), [0: .read], "portable: \(portable)")
            // Let the signalling thread finish (bounded), then one drain empties everything.
            var drained = false
            for _ in 0..<1000 where !drained {
                wakeup.drain()
                drained = wait(poller, timeout: 5).isEmpty
            }
            XCTAssertTrue(drained, "portable: \(portable)")
        }
    }

    func test_eventLoop_runsTasksFromOtherThreads_withEachBackend() throws {
        for backend in Self.backends {
            let group = EventLoopGroup(loopCount: 1, name: "parley-poller-test", backend: backend)
            defer { group.shutdown() }
            XCTAssertEqual(group.backend, backend)
            XCTAssertEqual(group.loops[0].backend, backend)
            let done = DispatchSemaphore(value: 0)
            let counter = Counter()
            let loop = group.loops[0]
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                for _ in 0..<250 {
                    loop.execute {
                        if counter.increment() == 1000 { done.signal() }
                    }
                }
            }
            XCTAssertEqual(done.wait(timeout: .now() + 5), .success, "\(backend)")
        }
    }

    func test_ioBackend_automatic_followsTheEnvironment() {
        let variable = ProcessInfo.processInfo.environment[IOBackend.environmentVariable]
        let expected: IOBackend = variable == "poll" ? .poll : .epoll
        XCTAssertEqual(IOBackend.automatic.resolved, expected)
        XCTAssertEqual(EventLoopGroup.shared.backend, expected)
        XCTAssertEqual(IOBackend.poll.resolved, .poll)
        XCTAssertEqual(IOBackend.epoll.resolved, .epoll)
    }

    /// Counts on the loop thread.
    private final class Counter: @unchecked Sendable {
        private var value = 0
        /// Called on the loop thread only.
        func increment() -> Int {
            value += 1
            return value
        }
    }
}
