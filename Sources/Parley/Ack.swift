import Foundation
import ParleyProtocol
import Synchronization

/// The answer to an event that asked for an acknowledgement (it carried an `id`).
///
/// Call it once, with a value or with ``fail(_:)``; later calls are ignored. When the event
/// did not ask (`isRequested` is false), calling it does nothing.
///
/// ```swift
/// socket.on("add") { (numbers: [Int], ack: Ack) in ack(numbers.reduce(0, +)) }
/// ```
public struct Ack: Sendable {
    let socket: Socket?
    /// The acknowledgement id the peer asked with, or nil.
    public let id: UInt64?
    let answered: AckOnce?

    init(socket: Socket, id: UInt64?) {
        self.socket = id == nil ? nil : socket
        self.id = id
        answered = id == nil ? nil : AckOnce()
    }

    /// Whether the peer asked for an acknowledgement.
    public var isRequested: Bool { id != nil }

    /// Answers with `value` as the ack's `data`.
    public func callAsFunction<T: Encodable>(_ value: T) {
        guard let id, let socket, answered?.claim() == true else { return }
        // `Data` goes to a Socket.IO client as a binary attachment (to an envelope client as base64).
        if let bytes = value as? Data, case .socketIO(let connection) = socket.link {
            return connection.send(.ack(namespace: socket.namespace.name, id: id, arguments: EventArguments(binary: [UInt8](bytes))))
        }
        if let raw = try? RawJSON(encoding: value) {
            socket.sendAnswer(.ack(id: id, data: raw))
        } else {
            socket.sendAnswer(.ackError(id: id, message: "the server could not encode its answer"))
        }
    }

    /// Answers with already-encoded JSON.
    public func callAsFunction(_ raw: RawJSON) {
        guard let id, let socket, answered?.claim() == true else { return }
        socket.sendAnswer(.ack(id: id, data: raw))
    }

    /// Answers with several values: a Socket.IO client receives them as the ack's arguments, an
    /// envelope client as `data` (``EventArguments/data``).
    public func callAsFunction(_ arguments: EventArguments) {
        guard let id, let socket, answered?.claim() == true else { return }
        switch socket.link {
        case .socketIO(let connection):
            connection.send(.ack(namespace: socket.namespace.name, id: id, arguments: arguments))
        case .envelope:
            socket.send(.ack(id: id, data: (try? arguments.resolvingAttachments())?.data))
        }
    }

    /// Answers with no data.
    public func callAsFunction() {
        guard let id, let socket, answered?.claim() == true else { return }
        socket.sendAnswer(.ack(id: id, data: nil))
    }

    /// Answers with an error: `{"ack":id,"error":{"message":...}}`.
    public func fail(_ message: String) {
        guard let id, let socket, answered?.claim() == true else { return }
        socket.sendAnswer(.ackError(id: id, message: message))
    }
}

/// Makes an acknowledgement answerable once, from any thread.
final class AckOnce: Sendable {
    private let done = Atomic<Bool>(false)
    func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}

/// One event received by a socket, as its ``Socket/events`` sequence delivers it.
public struct SocketEvent: Sendable {
    /// The event name.
    public let name: String
    /// The event's data as received (nil when absent).
    public let data: RawJSON?
    /// The acknowledgement to answer, if the event asked for one.
    public let ack: Ack

    /// Decodes `data` (absent data decodes as JSON `null`).
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try (data ?? .null).decode(type)
    }
}
