import Foundation
import ParleyWebSocket
import TestSupport
import XCTest

/// A page with nothing but `WebSocket` and `JSON.parse` (Protocol.md 9), doing recovery as
/// Protocol.md 5.5 documents it: each message is parsed as a JSON object.
public final class JSONPage: Sendable {
    public let socket: WebSocket
    private let inbox: Mailbox<[String: any Sendable]>

    private init(socket: WebSocket, inbox: Mailbox<[String: any Sendable]>) {
        self.socket = socket
        self.inbox = inbox
    }

    /// Opens `url` (5 s at most).
    public static func open(_ url: String) async throws -> JSONPage {
        let inbox = Mailbox<[String: any Sendable]>()
        var configuration = WebSocketClient.Configuration()
        configuration.connectTimeout = .seconds(5)
        let socket = try await WebSocketClient.connect(to: url, configuration: configuration) { socket in
            socket.onMessage { _, message in
                guard case .text(let text) = message,
                      let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return }
                inbox.put(object.mapValues { JSONPage.sendable($0) })
            }
            socket.onClose { _, _, _ in inbox.finish() }
        }
        return JSONPage(socket: socket, inbox: inbox)
    }

    private static func sendable(_ value: Any) -> any Sendable {
        switch value {
        case let dictionary as [String: Any]: return dictionary.mapValues { sendable($0) }
        case let array as [Any]: return array.map { sendable($0) }
        case let string as String: return string
        case let number as NSNumber:
            // JSON true and false arrive as a boolean NSNumber.
            return "\(type(of: number))".contains("Boolean") ? number.boolValue as any Sendable : number.doubleValue
        default: return "\(value)"
        }
    }

    /// The next message, as a JSON object.
    public func next(file: StaticString = #filePath, line: UInt = #line) async throws -> [String: any Sendable] {
        try await inbox.expect("a message", file: file, line: line)
    }

    /// The next message, which must be the event `name`.
    public func next(event name: String, file: StaticString = #filePath, line: UInt = #line) async throws -> [String: any Sendable] {
        let message = try await next(file: file, line: line)
        XCTAssertEqual(message["event"] as? String, name, "\(message)", file: file, line: line)
        return message
    }

    /// Nothing arrives within `timeout`.
    public func nothing(within timeout: Duration) async -> [String: any Sendable]? {
        await inbox.take(timeout: timeout)
    }

    /// Sends a text message.
    public func send(_ text: String) { socket.send(text: text) }
}

extension Dictionary where Key == String, Value == any Sendable {
    /// The `data` object of an event.
    public var data: [String: any Sendable] { self["data"] as? [String: any Sendable] ?? [:] }
    /// The `data` of an event, as an integer.
    public var number: Int? { (self["data"] as? Double).map { Int($0) } }
}
