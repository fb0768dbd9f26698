import Foundation
import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
import Parley

// A Parley server on 127.0.0.1 port 0 in one line, closed by the test's teardown, and helpers
// that connect envelope clients and pair them with their server-side sockets.

/// The test server's ping settings: short, so that pings flow during the tests, and distinct
/// from the defaults (25 s / 20 s), so that `connect` shows they are the configured ones.
public let testPingInterval: Duration = .seconds(1)
public let testPingTimeout: Duration = .seconds(2)

extension XCTestCase {
    /// Starts a server on 127.0.0.1, port 0, two loops and the test ping settings, changed by
    /// `configure`; the teardown closes it.
    /// - Parameter gracePeriod: how long the teardown's `close` waits for clients to leave.
    public func startServer(gracePeriod: Duration = .milliseconds(500),
                     _ configure: (inout Server.Configuration) -> Void = { _ in }) throws -> Server {
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0, path: "/parley")
        configuration.loopCount = 2
        configuration.pingInterval = testPingInterval
        configuration.pingTimeout = testPingTimeout
        configure(&configuration)
        let io = Server(configuration)
        try io.start()
        addTeardownBlock { await io.close(gracePeriod: gracePeriod) }
        return io
    }

    /// Opens a client to `io` without waiting for `connect` (for refusals).
    public func openClient(_ io: Server, query: String = "", headers: [(name: String, value: String)] = [],
                    group: EventLoopGroup = .shared) async throws -> EnvelopeClient {
        let client = try await EnvelopeClient.connect(io.url(query: query), headers: headers, group: group)
        addTeardownBlock { client.assertOnlyEnvelopesReceived() }
        return client
    }

    /// Connects a client to `io` and awaits its `connect` (so ``EnvelopeClient/id`` is set).
    public func connectClient(_ io: Server, query: String = "", group: EventLoopGroup = .shared,
                       file: StaticString = #filePath, line: UInt = #line) async throws -> EnvelopeClient {
        let client = try await openClient(io, query: query, group: group)
        try await client.awaitConnect(file: file, line: line)
        return client
    }

    /// Connects a client and returns it with its server-side socket.
    public func connectPair(_ io: Server, _ sockets: SocketRegistry, query: String = "",
                     file: StaticString = #filePath, line: UInt = #line) async throws -> (client: EnvelopeClient, socket: Socket) {
        let client = try await connectClient(io, query: query, file: file, line: line)
        let socket = try await sockets.socket(id: client.id, file: file, line: line)
        return (client, socket)
    }
}

extension Server {
    /// `ws://127.0.0.1:port/parley`, plus `?query` when given.
    public func url(query: String = "") -> String {
        "ws://127.0.0.1:\(port)/parley" + (query.isEmpty ? "" : "?" + query)
    }
}

/// Server-side sockets of a namespace as they connect, found by id.
public final class SocketRegistry: Sendable {
    private let sockets = Mailbox<Socket>()

    /// Registers a connection handler on `namespace` that records every socket.
    public init(_ namespace: Namespace) {
        let sockets = self.sockets
        namespace.onConnection { socket in sockets.put(socket) }
    }

    /// The server-side socket whose id is `id`.
    public func socket(id: String, file: StaticString = #filePath, line: UInt = #line) async throws -> Socket {
        try await sockets.expect("the server socket \(id)", file: file, line: line) { $0.id == id }
    }

    /// The next socket that connected.
    public func next(file: StaticString = #filePath, line: UInt = #line) async throws -> Socket {
        try await sockets.expect("a server socket", file: file, line: line)
    }

    /// Sockets connected and not taken yet.
    public var pending: [Socket] { sockets.pending }
}

extension EnvelopeClient {
    /// The next envelopes must be exactly the events `names`, in this order (a fence: an event
    /// sent after the ones under test shows that nothing else came before it).
    public func expectEvents(_ names: [String], file: StaticString = #filePath, line: UInt = #line) async throws {
        for name in names { _ = try await nextStrict(event: name, file: file, line: line) }
    }

    /// Emits `echo` asking for an acknowledgement and expects its data back: the connection is
    /// still served. Needs ``installEcho(on:)``.
    public func assertServed(id: UInt64, file: StaticString = #filePath, line: UInt = #line) async throws {
        emit("echo", "\"still here \(id)\"", id: id)
        let answer = try await nextAck(id: id, file: file, line: line)
        XCTAssertEqual(answer, try .ack(id, "\"still here \(id)\""), file: file, line: line)
    }
}

/// Registers `echo` on every socket of `namespace`: the data comes back as the acknowledgement.
public func installEcho(on namespace: Namespace) {
    namespace.onConnection { socket in
        socket.on("echo") { (data: RawJSON, ack: Ack) in ack(data) }
    }
}

/// A decodable, encodable event payload.
public struct Chat: Codable, Sendable, Equatable {
    public var text: String
    public var count: Int

    public init(text: String, count: Int) {
        self.text = text
        self.count = count
    }
}
