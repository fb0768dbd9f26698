import Foundation
import ParleyWebSocket
import TestSupport
import XCTest

/// A raw Engine.IO WebSocket client (`/socket.io/?EIO=4&transport=websocket`) recovering as a
/// Socket.IO 4.6 client does: it reads `pid` from the `CONNECT` answer, the offset from each
/// event's last argument, and sends both in the `auth` of its next `CONNECT`
/// (python-socketio's client does not implement recovery). It answers the server's pings;
/// every other text message is kept, in order.
///
/// ```swift
/// let client = try await SocketIORecoveringClient(port: proxy.port)
/// let connect = try await client.join()                      // ["sid": ..., "pid": ..., "offset": ...]
/// let event = try await client.nextEvent("n")                 // ["n", 1, "1712345678901-0"]
/// let again = try await SocketIORecoveringClient(port: proxy.port)
/// _ = try await again.join(auth: SocketIORecoveringClient.recoveryAuth(pid: pid, offset: offset))
/// ```
public final class SocketIORecoveringClient: Sendable {
    public let socket: WebSocket
    private let texts = Mailbox<String>()
    private let closes = Mailbox<Void>()

    /// Opens the Engine.IO session on 127.0.0.1:`port` (5 s at most).
    public init(port: Int) async throws {
        let (texts, closes) = (texts, closes)
        var configuration = WebSocketClient.Configuration()
        configuration.connectTimeout = .seconds(5)
        socket = try await WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/socket.io/?EIO=4&transport=websocket",
                                                   configuration: configuration) { socket in
            socket.onMessage { socket, message in
                guard case .text(let text) = message else { return }
                if text == "2" { socket.send(text: "3") } else { texts.put(text) }
            }
            socket.onClose { _, _, _ in
                texts.finish()
                closes.put(())
            }
        }
    }

    /// `auth` asking for the session `pid` back after `offset`, with `extra` members (JSON
    /// members without braces, e.g. `"token":"t"`).
    public static func recoveryAuth(pid: String, offset: String, extra: String = "") -> String {
        #"{\#(extra.isEmpty ? "" : extra + ",")"pid":"\#(pid)","offset":"\#(offset)"}"#
    }

    /// The next message starting with `prefix` (others before it are skipped).
    public func next(_ prefix: String, file: StaticString = #filePath, line: UInt = #line) async throws -> String {
        try await texts.expect("a packet starting with \(prefix)", file: file, line: line) { $0.hasPrefix(prefix) }
    }

    /// The next message, whatever it is.
    public func next(file: StaticString = #filePath, line: UInt = #line) async throws -> String {
        try await texts.expect("a packet", file: file, line: line)
    }

    /// Nothing but pings within `timeout`: the message that came instead, or nil.
    public func nothing(within timeout: Duration) async -> String? {
        await texts.take(timeout: timeout)
    }

    /// Waits until the server closed the WebSocket; fails the test (and throws) when it does not.
    public func closed(file: StaticString = #filePath, line: UInt = #line) async throws {
        try await closes.expect("the connection's close", file: file, line: line)
    }

    /// Waits for the Engine.IO open packet, joins `/` with `auth` (and sends the messages of
    /// `then` right after the `CONNECT`, before its answer), and returns the `CONNECT` answer's object.
    public func join(auth: String = "", then: [String] = [], file: StaticString = #filePath, line: UInt = #line)
        async throws -> [String: Any] {
        _ = try await next("0{", file: file, line: line)
        socket.send(text: "40" + auth)
        for text in then { socket.send(text: text) }
        let answer = try await next(file: file, line: line)
        XCTAssertTrue(answer.hasPrefix("40{"), "a CONNECT answer: \(answer)", file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(answer.dropFirst(2).utf8)) as? [String: Any],
                             file: file, line: line)
    }

    /// The next message, which must be an EVENT of `/` without acknowledgement: its array (the
    /// name, then the arguments; with recovery, the offset last).
    /// - Parameters:
    ///   - name: when given, the event's name must be this.
    ///   - count: when given, the array must have this many elements (else the test fails and
    ///     this throws).
    public func nextEvent(_ name: String? = nil, count: Int? = nil, file: StaticString = #filePath, line: UInt = #line) async throws -> [Any] {
        let text = try await next(file: file, line: line)
        XCTAssertTrue(text.hasPrefix("42["), text, file: file, line: line)
        let array = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.dropFirst(2).utf8)) as? [Any], text, file: file, line: line)
        if let name { XCTAssertEqual(array.first as? String, name, text, file: file, line: line) }
        if let count {
            _ = try XCTUnwrap(array.count == count ? array : nil, "\(count) elements expected: \(text)", file: file, line: line)
        }
        return array
    }

    /// The next message, which must be the EVENT `n` with one number and its offset (the last
    /// argument): both.
    public func nextNumbered(file: StaticString = #filePath, line: UInt = #line) async throws -> (number: Int, offset: String) {
        let array = try await nextEvent("n", count: 3, file: file, line: line)   // the name, the number, the offset
        return (try XCTUnwrap((array[1] as? NSNumber)?.intValue, "\(array)", file: file, line: line),
                try XCTUnwrap(array.last as? String, "the offset is a string: \(array)", file: file, line: line))
    }

    /// Sends the EVENT `name` with the JSON `arguments` (comma-separated) asking for
    /// acknowledgement `id`, and returns the ACK's arguments.
    public func call(_ name: String, _ arguments: String = "", id: Int, file: StaticString = #filePath, line: UInt = #line)
        async throws -> [Any] {
        socket.send(text: #"42\#(id)["\#(name)"\#(arguments.isEmpty ? "" : "," + arguments)]"#)
        let answer = try await next("43\(id)[", file: file, line: line)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(answer.dropFirst(2 + String(id).count).utf8)) as? [Any],
                             answer, file: file, line: line)
    }
}
