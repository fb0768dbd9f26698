import Foundation
import Synchronization
import XCTest
@testable import ParleyWebSocket

// Shared helpers for the integration tests: a server on 127.0.0.1 port 0 in one line, shut
// down by the test's teardown, and an inbox that the loops' callbacks post to and the test
// awaits with a timeout (never a sleep).

/// A running test server.
struct TestServer {
    let server: WebSocketServer
    let port: Int
    let host: String

    /// `ws://host:port/path`, with brackets around an IPv6 literal.
    func url(_ path: String = "/") -> String {
        let authority = host.contains(":") ? "[\(host)]" : host
        return "ws://\(authority):\(port)\(path)"
    }
}

/// How long a test waits for an event that should come at once.
let eventTimeout: Duration = .seconds(5)

extension XCTestCase {
    /// Starts a server on `host`, port 0, with two loops and the given configuration changes;
    /// the test's teardown shuts it down.
    func startServer(
        host: String = "127.0.0.1",
        configure: (inout WebSocketServer.Configuration) -> Void = { _ in },
        onConnection: @escaping @Sendable (WebSocket, HTTPRequestHead) -> Void
    ) throws -> TestServer {
        var configuration = WebSocketServer.Configuration(host: host, port: 0, path: "/")
        configuration.loopCount = 2
        configure(&configuration)
        let server = WebSocketServer(configuration: configuration, onConnection: onConnection)
        let port = try server.start()
        addTeardownBlock { @Sendable () async throws -> Void in
            await server.shutdown(gracePeriod: .milliseconds(200))
        }
        return TestServer(server: server, port: port, host: host)
    }

    /// Starts a server that echoes every message back to its sender.
    func startEchoServer(
        host: String = "127.0.0.1",
        configure: (inout WebSocketServer.Configuration) -> Void = { _ in },
        onConnection: @escaping @Sendable (WebSocket, HTTPRequestHead) -> Void = { _, _ in }
    ) throws -> TestServer {
        try startServer(host: host, configure: configure) { socket, request in
            socket.onMessage { socket, message in socket.send(message) }
            onConnection(socket, request)
        }
    }

    /// Connects a client whose messages and close go to the returned inboxes.
    func connectClient(
        to url: String,
        configure: (inout WebSocketClient.Configuration) -> Void = { _ in }
    ) async throws -> ClientProbe {
        var configuration = WebSocketClient.Configuration()
        configuration.connectTimeout = .seconds(5)
        configure(&configuration)
        let messages = Inbox<WebSocketMessage>()
        let closes = Inbox<CloseEvent>()
        let socket = try await WebSocketClient.connect(to: url, configuration: configuration) { socket in
            socket.onMessage { _, message in messages.put(message) }
            socket.onClose { _, code, reason in closes.put(CloseEvent(code: code, reason: reason)) }
        }
        return ClientProbe(socket: socket, messages: messages, closes: closes)
    }

    /// Runs `body` on `socket`'s loop and returns its result (send results are only final there).
    func runOnLoop<T: Sendable>(of socket: WebSocket, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            socket.loop.execute { continuation.resume(returning: body()) }
        }
    }
}

/// A close as `onClose` reported it.
struct CloseEvent: Sendable, Equatable, CustomStringConvertible {
    var code: CloseCode
    var reason: String
    var description: String { "\(code) \"\(reason)\"" }
}

/// A client connection and what it received.
struct ClientProbe: Sendable {
    let socket: WebSocket
    let messages: Inbox<WebSocketMessage>
    let closes: Inbox<CloseEvent>
}

/// A thread-safe queue of events that loop callbacks post to and a test awaits in order.
final class Inbox<Element: Sendable>: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Element?, Never>
    }

    private struct State {
        var items: [Element] = []
        var waiter: Waiter?
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Posts an event; callable from any thread.
    func put(_ element: Element) {
        let waiter = state.withLock { state -> Waiter? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.items.append(element)
            return nil
        }
        waiter?.continuation.resume(returning: element)
    }

    /// Events posted and not taken yet.
    var pending: [Element] { state.withLock { $0.items } }

    /// The next event, or nil if none is posted within `timeout`. One waiter at a time.
    func next(timeout: Duration = eventTimeout) async -> Element? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
            let id = state.withLock { state -> UInt64? in
                if !state.items.isEmpty {
                    continuation.resume(returning: state.items.removeFirst())
                    return nil
                }
                precondition(state.waiter == nil, "Inbox supports one waiter at a time")
                state.nextID += 1
                state.waiter = Waiter(id: state.nextID, continuation: continuation)
                return state.nextID
            }
            guard let id else { return }
            let (seconds, attoseconds) = timeout.components
            let delay = Double(seconds) + Double(attoseconds) / 1e18
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [self] in expire(id) }
        }
    }

    private func expire(_ id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let waiter = state.waiter, waiter.id == id else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.continuation.resume(returning: nil)
    }
}

extension Inbox {
    /// The next event; fails the test (and throws) when none comes within `timeout`.
    func expectNext(_ what: @autoclosure () -> String, timeout: Duration = eventTimeout,
                    file: StaticString = #filePath, line: UInt = #line) async throws -> Element {
        let element = await next(timeout: timeout)
        return try XCTUnwrap(element, "timed out after \(timeout) waiting for \(what())", file: file, line: line)
    }
}

/// Seconds elapsed since `start`, for asserting how long something took.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let (seconds, attoseconds) = (ContinuousClock.now - start).components
    return Double(seconds) + Double(attoseconds) / 1e18
}

extension WebSocketMessage {
    /// A short description for failure messages (payloads may be a megabyte).
    var summary: String {
        switch self {
        case .text(let text): return "text(\(text.utf8.count) bytes)"
        case .binary(let bytes): return "binary(\(bytes.count) bytes)"
        }
    }
}

/// A value behind a lock, shareable with loop callbacks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T {
        mutex.withLock { body(&$0) }
    }

    var value: Value { mutex.withLock { $0 } }
}

/// Deterministic non-trivial bytes: a corrupted or reordered byte shows.
func testPattern(count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8 &+ 7) }
}

/// ASCII text of exactly `count` bytes that is not one repeated character.
func testText(count: Int) -> String {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
    return String(decoding: (0..<count).map { alphabet[($0 &* 7 &+ $0 >> 6) % alphabet.count] }, as: UTF8.self)
}
