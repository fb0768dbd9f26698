import CParleySystem
import Foundation
import XCTest
@_spi(IO) @testable import ParleyIO

/// The loop's registration table: events are matched to handlers by descriptor number, so an
/// event of a descriptor closed during an iteration must never reach the connection that
/// reuses its number in the same iteration.
final class EventLoopTests: XCTestCase {
    /// Counts the events it gets (on the loop thread only).
    private final class Recorder: Selectable, @unchecked Sendable {
        var events = 0
        var onEvent: (() -> Void)?

        func handleEvents(_ events: IOEvents) {
            self.events += 1
            onEvent?()
        }
    }

    /// A connected, non-blocking pair of stream sockets.
    private static func socketPair() -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, socketStreamType, 0, &fds), 0, "socketpair: errno \(errno)")
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return (fds[0], fds[1])
    }

    private static func send(_ fd: Int32) {
        var byte: UInt8 = 1
        XCTAssertEqual(cps_send(fd, &byte, 1), 1)
    }

    func test_deregister_voidsPendingEventOfDescriptor_whenItsNumberIsReusedInTheSameIteration() {
        for backend in [IOBackend.epoll, .poll] {
            let group = EventLoopGroup(loopCount: 1, name: "parley-eventloop-test", backend: backend)
            defer { group.shutdown() }
            let loop = group.next()
            let done = DispatchSemaphore(value: 0)
            // Both `first` and `second` are readable before the loop waits, so one wait reports
            // both. Whichever is handled first closes the other and puts a fresh, silent socket
            // under its number: the other's pending event must reach neither its old handler
            // nor the new one.
            let handlers = [Recorder(), Recorder()]
            let successor = Recorder()
            nonisolated(unsafe) var result: (closedHandlerEvents: Int, successorEvents: Int, reused: Bool)?
            loop.execute {
                let (first, firstPeer) = Self.socketPair()
                let (second, secondPeer) = Self.socketPair()
                let descriptors = [first, second]
                var handled = false
                for (index, handler) in handlers.enumerated() {
                    handler.onEvent = {
                        guard !handled else { return }
                        handled = true
                        let other = descriptors[1 - index]
                        loop.deregister(other)
                        // dup2 closes `other` and gives its number to the fresh socket at once:
                        // no other thread can take the number in between.
                        let (fresh, freshPeer) = Self.socketPair()
                        let reused = dup2(fresh, other) == other
                        _ = closeDescriptor(fresh)
                        if reused { _ = loop.register(other, interest: .read, handler: successor) }
                        // Runs after every event of this iteration.
                        loop.execute {
                            result = (handlers[1 - index].events, successor.events, reused)
                            loop.deregister(descriptors[index])
                            if reused { loop.deregister(other) }
                            for fd in [descriptors[index], other, freshPeer, firstPeer, secondPeer] { _ = closeDescriptor(fd) }
                            done.signal()
                        }
                    }
                    XCTAssertTrue(loop.register(descriptors[index], interest: .read, handler: handler))
                }
                Self.send(firstPeer)
                Self.send(secondPeer)
            }
            XCTAssertEqual(done.wait(timeout: .now() + 5), .success, "\(backend): no event came")
            guard let result else { return XCTFail("\(backend): no result") }
            XCTAssertTrue(result.reused, "\(backend): dup2 could not reuse the number")
            XCTAssertEqual(result.closedHandlerEvents, 0, "\(backend): the closed descriptor's handler got its pending event")
            XCTAssertEqual(result.successorEvents, 0, "\(backend): the pending event of the closed descriptor reached its successor")
        }
    }
}
