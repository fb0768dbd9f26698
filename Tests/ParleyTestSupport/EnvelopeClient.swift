import Foundation
import ParleyProtocol
import ParleyWebSocket
import Synchronization
import TestSupport
import XCTest

/// A close as the client's `onClose` reported it.
public struct CloseEvent: Sendable, Equatable, CustomStringConvertible {
    public var code: CloseCode
    public var reason: String
    public var description: String { "\(code) \"\(reason)\"" }

    public init(code: CloseCode, reason: String) {
        self.code = code
        self.reason = reason
    }
}

/// One event envelope the client received.
public struct ClientEvent: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var data: RawJSON?
    public var id: UInt64?

    public init(name: String, data: RawJSON?, id: UInt64?) {
        self.name = name
        self.data = data
        self.id = id
    }

    /// The data's JSON text, nil when `data` was absent.
    public var json: String? { data?.description }

    /// Decodes the data (absent data as `null`).
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try (data ?? .null).decode(type)
    }

    public var description: String { "\(name) \(json ?? "<no data>")\(id.map { " id \($0)" } ?? "")" }
}

/// What the server sends first: `{"id":...,"pingInterval":ms,"pingTimeout":ms}`.
public struct ConnectInfo: Decodable, Sendable, Equatable {
    public var id: String
    public var pingInterval: Int
    public var pingTimeout: Int
}

/// A test client speaking raw envelopes (Protocol.md section 5) over ``WebSocketClient``.
///
/// Every text message is decoded with ``EnvelopeCodec`` into an inbox the test awaits with a
/// timeout; emits are written as literal JSON text, so a test controls every byte.
///
/// ```swift
/// let client = try await EnvelopeClient.connect(io.url())
/// let info = try await client.awaitConnect()
/// client.emit("add", "[1,2]", id: 1)
/// let answer = try await client.nextAck(id: 1)   // .ack(id: 1, data: 3)
/// ```
public final class EnvelopeClient: Sendable {
    /// The WebSocket under the client.
    public let socket: WebSocket
    private let inbox: Mailbox<Envelope>
    private let closes: Mailbox<CloseEvent>
    /// Text messages that were not envelopes (the server must never send one).
    public let undecodable: Locked<[String]>
    /// Binary messages received (the server must never send one).
    public let binaryCount: Locked<Int>
    private let info = Mutex<ConnectInfo?>(nil)

    private init(socket: WebSocket, inbox: Mailbox<Envelope>, closes: Mailbox<CloseEvent>,
                 undecodable: Locked<[String]>, binaryCount: Locked<Int>) {
        self.socket = socket
        self.inbox = inbox
        self.closes = closes
        self.undecodable = undecodable
        self.binaryCount = binaryCount
    }

    /// Opens the WebSocket; the returned client is collecting envelopes already (nothing the
    /// server sends right after the `101` is missed).
    /// - Parameters:
    ///   - url: `ws://127.0.0.1:port/parley?...`.
    ///   - headers: extra request headers, e.g. `Origin`.
    ///   - group: the client loops; the shared one-loop group by default.
    /// - Throws: what ``WebSocketClient/connect(to:configuration:group:onOpen:)`` throws.
    public static func connect(_ url: String, headers: [(name: String, value: String)] = [],
                        group: EventLoopGroup = .shared) async throws -> EnvelopeClient {
        var configuration = WebSocketClient.Configuration()
        configuration.connectTimeout = .seconds(10)
        configuration.headers = headers
        let inbox = Mailbox<Envelope>()
        let closes = Mailbox<CloseEvent>()
        let undecodable = Locked<[String]>([])
        let binaryCount = Locked(0)
        let socket = try await WebSocketClient.connect(to: url, configuration: configuration, group: group) { socket in
            socket.onMessage { _, message in
                switch message {
                case .text(var text):
                    do {
                        let envelope = try text.withUTF8 { try EnvelopeCodec.decode(UnsafeRawBufferPointer($0)) }
                        inbox.put(envelope)
                    } catch {
                        undecodable.withLock { $0.append(text) }
                    }
                case .binary:
                    binaryCount.withLock { $0 += 1 }
                }
            }
            socket.onClose { _, code, reason in
                closes.put(CloseEvent(code: code, reason: reason))
                closes.finish()
                inbox.finish()
            }
        }
        return EnvelopeClient(socket: socket, inbox: inbox, closes: closes, undecodable: undecodable, binaryCount: binaryCount)
    }

    // MARK: Receiving

    /// Envelopes received and not taken yet, oldest first.
    public var pending: [Envelope] { inbox.pending }

    /// The next envelope, whatever it is.
    public func next(timeout: Duration = eventTimeout, file: StaticString = #filePath, line: UInt = #line) async throws -> Envelope {
        try await inbox.expect("the next envelope", timeout: timeout, file: file, line: line)
    }

    /// The next envelope, which must be the event `name`; fails the test otherwise.
    public func nextStrict(event name: String, timeout: Duration = eventTimeout,
                    file: StaticString = #filePath, line: UInt = #line) async throws -> ClientEvent {
        let envelope = try await next(timeout: timeout, file: file, line: line)
        guard case .event(let received, let data, let id) = envelope, received == name else {
            XCTFail("expected event '\(name)' next, got \(envelope)", file: file, line: line)
            throw UnexpectedEnvelope(envelope: envelope)
        }
        return ClientEvent(name: received, data: data, id: id)
    }

    /// The first event named `name` received (other envelopes stay queued).
    public func next(event name: String, timeout: Duration = eventTimeout,
              file: StaticString = #filePath, line: UInt = #line) async throws -> ClientEvent {
        let envelope = try await inbox.expect("event '\(name)'", timeout: timeout, file: file, line: line) { envelope in
            if case .event(name, _, _) = envelope { return true }
            return false
        }
        guard case .event(let received, let data, let id) = envelope else { throw UnexpectedEnvelope(envelope: envelope) }
        return ClientEvent(name: received, data: data, id: id)
    }

    /// The first event named `name` received within `timeout`, or nil: for polling, not a failure.
    public func take(event name: String, timeout: Duration) async -> ClientEvent? {
        let envelope = await inbox.take(timeout: timeout) { envelope in
            if case .event(name, _, _) = envelope { return true }
            return false
        }
        guard case .event(let received, let data, let id)? = envelope else { return nil }
        return ClientEvent(name: received, data: data, id: id)
    }

    /// The first acknowledgement (`.ack` or `.ackError`) of `id` received.
    public func nextAck(id: UInt64, timeout: Duration = eventTimeout,
                 file: StaticString = #filePath, line: UInt = #line) async throws -> Envelope {
        try await inbox.expect("the acknowledgement of id \(id)", timeout: timeout, file: file, line: line) { envelope in
            switch envelope {
            case .ack(id, _), .ackError(id, _): return true
            default: return false
            }
        }
    }

    /// Awaits `connect`, which must be the first message, and remembers the socket id.
    @discardableResult
    public func awaitConnect(file: StaticString = #filePath, line: UInt = #line) async throws -> ConnectInfo {
        let event = try await nextStrict(event: "connect", file: file, line: line)
        let connected = try event.decode(ConnectInfo.self)
        info.withLock { $0 = connected }
        return connected
    }

    /// The socket id the server announced (after ``awaitConnect(file:line:)``).
    public var id: String {
        guard let id = info.withLock({ $0?.id }) else { preconditionFailure("awaitConnect() first") }
        return id
    }

    /// How the connection closed: code and reason.
    public func closed(timeout: Duration = eventTimeout, file: StaticString = #filePath, line: UInt = #line) async throws -> CloseEvent {
        try await closes.expect("the connection to close", timeout: timeout, file: file, line: line)
    }

    // MARK: Sending

    /// Emits `event` with `json` as its data, written verbatim (nil: no `data` key), asking for
    /// an acknowledgement when `id` is given.
    public func emit(_ event: String, _ json: String? = nil, id: UInt64? = nil) {
        var text = "{\"event\":"
        var name: [UInt8] = []
        EnvelopeCodec.appendJSONString(event, to: &name)
        text += String(decoding: name, as: UTF8.self)
        if let json { text += ",\"data\":" + json }
        if let id { text += ",\"id\":\(id)" }
        text += "}"
        send(raw: text)
    }

    /// Answers the server's event `id` with `json` as data (nil: no `data` key).
    public func ack(_ id: UInt64, _ json: String? = nil) {
        send(raw: json.map { "{\"ack\":\(id),\"data\":\($0)}" } ?? "{\"ack\":\(id)}")
    }

    /// Answers the server's event `id` with an error.
    public func ackError(_ id: UInt64, message: String) {
        send(EnvelopeCodec.encode(.ackError(id: id, message: message)))
    }

    /// Sends one text message exactly as given.
    public func send(raw text: String) {
        socket.send(text: text)
    }

    private func send(_ bytes: [UInt8]) {
        socket.send(text: String(decoding: bytes, as: UTF8.self))
    }

    /// Closes the WebSocket (close frame with `code`).
    public func close(code: CloseCode = .normalClosure, reason: String = "") {
        socket.close(code: code, reason: reason)
    }

    /// Asserts nothing but envelopes arrived (the server never sends other messages).
    public func assertOnlyEnvelopesReceived(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(undecodable.value, [], "the server sent text that is not an envelope", file: file, line: line)
        XCTAssertEqual(binaryCount.value, 0, "the server sent binary messages", file: file, line: line)
    }
}

/// Thrown after a test failure that says which envelope came instead.
public struct UnexpectedEnvelope: Error, CustomStringConvertible {
    public var envelope: Envelope
    public var description: String { "unexpected envelope \(envelope)" }

    public init(envelope: Envelope) {
        self.envelope = envelope
    }
}

extension Envelope {
    /// An acknowledgement with data given as JSON text.
    public static func ack(_ id: UInt64, _ json: String) throws -> Envelope {
        .ack(id: id, data: try RawJSON(json: json))
    }
}
