import Foundation
import Parley
import ParleyClient
import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest

// A Parley server on 127.0.0.1 port 0 in one line, closed by the test's teardown; a raw
// WebSocket server for what a Parley server never does; clients with fast test settings whose
// connection events are logged for the test to await.

/// The test server's ping settings: short, so that the client's liveness watch (interval +
/// timeout = 1.5 s) is exercised, with pings flowing, in every test.
let testPingInterval: Duration = .milliseconds(500)
let testPingTimeout: Duration = .seconds(1)

extension XCTestCase {
    /// Starts a Parley server on 127.0.0.1 (port 0 unless given), two loops, the test ping
    /// settings, changed by `configure`; the teardown closes it.
    func startServer(port: Int = 0, _ configure: (inout Server.Configuration) -> Void = { _ in }) throws -> Server {
        var configuration = Server.Configuration(host: "127.0.0.1", port: port, path: "/parley")
        configuration.loopCount = 2
        configuration.pingInterval = testPingInterval
        configuration.pingTimeout = testPingTimeout
        configure(&configuration)
        let io = Server(configuration)
        try io.start()
        addTeardownBlock { await io.close(gracePeriod: .milliseconds(200)) }
        return io
    }

    /// Starts a bare WebSocket server on 127.0.0.1, port 0, path `/`, that does not ping;
    /// `onConnection` plays the Parley server. The teardown shuts it down.
    func startRawServer(onConnection: @escaping @Sendable (WebSocket, HTTPRequestHead) -> Void) throws -> WebSocketServer {
        var configuration = WebSocketServer.Configuration(host: "127.0.0.1", port: 0, path: "/")
        configuration.loopCount = 1
        configuration.webSocket.pingInterval = nil
        let server = WebSocketServer(configuration: configuration, onConnection: onConnection)
        try server.start()
        addTeardownBlock { await server.shutdown(gracePeriod: .milliseconds(200)) }
        return server
    }

    /// A client of `url` with fast reconnection (20–100 ms) and `autoConnect` off, changed by
    /// `configure`, and a log of its connection events; the teardown disconnects it.
    func makeClient(_ url: String, _ configure: (inout Client.Options) -> Void = { _ in }) -> (Client, EventLog) {
        var options = Client.Options()
        options.autoConnect = false
        options.reconnectionDelay = .milliseconds(20)
        options.reconnectionDelayMax = .milliseconds(100)
        configure(&options)
        let client = Client(url: url, options: options)
        let log = EventLog(client)
        addTeardownBlock { client.disconnect() }
        return (client, log)
    }

    /// A client of `io`, connected (its `connect` awaited).
    func connectClient(_ io: Server, file: StaticString = #filePath, line: UInt = #line,
                       _ configure: (inout Client.Options) -> Void = { _ in }) async throws -> (Client, EventLog) {
        let (client, log) = makeClient(io.url, configure)
        client.connect()
        try await log.expect(.connect, file: file, line: line)
        return (client, log)
    }
}

extension Server {
    /// `ws://127.0.0.1:port/parley`.
    var url: String { "ws://127.0.0.1:\(port)/parley" }
}

extension WebSocketServer {
    /// `ws://127.0.0.1:port/`.
    var url: String { "ws://127.0.0.1:\(port)/" }
}

/// The connection events of one client, in order, as its handlers saw them.
final class EventLog: Sendable {
    let events = Mailbox<ClientEvent>()

    /// Registers a handler for every connection event of `client` (not retaining it).
    init(_ client: Client) {
        let events = self.events
        client.on(.connect) { events.put(.connect) }
        client.on(.disconnect) { events.put(.disconnect(reason: $0)) }
        client.on(.connectError) { events.put(.connectError(message: $0.message, data: $0.data)) }
        client.on(.reconnectAttempt) { events.put(.reconnectAttempt($0)) }
        client.on(.reconnect) { events.put(.reconnect($0)) }
        client.on(.reconnectError) { events.put(.reconnectError($0)) }
        client.on(.reconnectFailed) { events.put(.reconnectFailed) }
    }

    /// The next event, whatever it is.
    func next(timeout: Duration = eventTimeout, file: StaticString = #filePath, line: UInt = #line) async throws -> ClientEvent {
        try await events.expect("the next client event", timeout: timeout, file: file, line: line)
    }

    /// The next event must be `expected`.
    func expect(_ expected: ClientEvent, timeout: Duration = eventTimeout, file: StaticString = #filePath, line: UInt = #line) async throws {
        let event = try await next(timeout: timeout, file: file, line: line)
        XCTAssertEqual(event, expected, file: file, line: line)
    }

    /// Skips events until one matches; returns it.
    func skip(until what: String, timeout: Duration = eventTimeout, file: StaticString = #filePath, line: UInt = #line,
              where matches: @escaping @Sendable (ClientEvent) -> Bool) async throws -> ClientEvent {
        while true {
            let event = try await next(timeout: timeout, file: file, line: line)
            if matches(event) { return event }
        }
    }

    /// Asserts that no event comes within `window` (a negative check: it waits the whole window).
    func expectSilence(for window: Duration, file: StaticString = #filePath, line: UInt = #line) async {
        if let event = await events.take(timeout: window) {
            XCTFail("unexpected event \(event)", file: file, line: line)
        }
    }
}

/// Server-side sockets as they connect, and the events they receive.
final class ServerSide: Sendable {
    let sockets = Mailbox<Socket>()
    /// `(event name, raw data)` of every event any socket received, in order per socket.
    let received = Mailbox<(String, RawJSON?)>()
    let disconnects = Mailbox<String>()

    /// Records connections, events and disconnections of `namespace`.
    init(_ namespace: Namespace) {
        let (sockets, received, disconnects) = (self.sockets, self.received, self.disconnects)
        namespace.onConnection { socket in
            let id = socket.id
            socket.onAny { name, data in received.put((name, data)) }
            socket.onDisconnect { _ in disconnects.put(id) }
            sockets.put(socket)
        }
    }

    /// The server-side socket whose id is `id`.
    func socket(id: String?, file: StaticString = #filePath, line: UInt = #line) async throws -> Socket {
        try await sockets.expect("the server socket \(id ?? "nil")", file: file, line: line) { $0.id == id }
    }

    /// The next `count` events named `name`, as raw JSON text.
    func take(_ count: Int, of name: String, file: StaticString = #filePath, line: UInt = #line) async throws -> [String] {
        var taken: [String] = []
        for _ in 0..<count {
            let (_, data) = try await received.expect("event \(name)", file: file, line: line) { $0.0 == name }
            taken.append(data?.description ?? "")
        }
        return taken
    }
}

/// Server handlers the tests use: `echo` (answered as an ack when asked, else emitted back),
/// `whoami` (acks the socket id), `ignore` (never answered), `refuse` (an error ack).
func installHandlers(on namespace: Namespace) {
    namespace.onConnection { socket in
        socket.on("echo") { (data: RawJSON, ack: Ack) in
            if ack.isRequested { ack(data) } else { try? socket.emit("echo", data) }
        }
        socket.on("whoami") { (ack: Ack) in ack(socket.id) }
        socket.on("ignore") { (_: RawJSON, _: Ack) in }
        socket.on("refuse") { (_: RawJSON, ack: Ack) in ack.fail("nope") }
    }
}

/// A JSON payload both sides decode.
struct Chat: Codable, Sendable, Equatable {
    var text: String
    var count: Int
}

/// The open file descriptors of this process.
func openDescriptorCount() throws -> Int {
    try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
}
