import Foundation
import ParleyProtocol
import ParleyWebSocket
import Synchronization

extension Client {
    /// The answer to a server event that asked for an acknowledgement (it carried an `id`).
    ///
    /// Call it once, with a value or with ``fail(_:)``; later calls are ignored. When the
    /// event asked for none (`isRequested` is false), calling it does nothing. The answer goes
    /// to the connection the event came on: after a reconnection the server has forgotten the
    /// question, so a late answer is dropped with that connection.
    ///
    /// ```swift
    /// client.on("add") { (numbers: [Int], ack: Client.Ack) in ack(numbers.reduce(0, +)) }
    /// ```
    public struct Ack: Sendable, Equatable {
        /// The acknowledgement id the server asked with, or nil.
        public let id: UInt64?
        private let transport: WebSocket?
        private let answered: AckOnce?
        /// The namespace of the Socket.IO event answered; nil for an envelope event.
        let socketIONamespace: String?
        /// The event's arguments as sent by a Socket.IO server (handlers taking
        /// `EventArguments` or several parameters read them); nil for an envelope event, whose
        /// `data` is its one argument.
        let arguments: EventArguments?

        init(id: UInt64?, transport: WebSocket, socketIONamespace: String? = nil, arguments: EventArguments? = nil) {
            self.id = id
            self.transport = id == nil ? nil : transport
            answered = id == nil ? nil : AckOnce()
            self.socketIONamespace = socketIONamespace
            self.arguments = arguments
        }

        /// Whether the server asked for an acknowledgement.
        public var isRequested: Bool { id != nil }

        /// Answers with `value` as the ack's `data` (an error ack if it cannot be encoded).
        /// `Data` goes to a Socket.IO server as a binary attachment (on the envelope, as base64).
        public func callAsFunction<T: Encodable>(_ value: T) {
            guard let id, claim() else { return }
            if let bytes = value as? Data, let namespace = socketIONamespace {
                return sendSocketIO(.ack(namespace: namespace, id: id, arguments: EventArguments(binary: [UInt8](bytes))))
            }
            if let raw = try? RawJSON(encoding: value) {
                send(.ack(id: id, data: raw))
            } else {
                send(.ackError(id: id, message: "the client could not encode its answer"))
            }
        }

        /// Answers with already-encoded JSON.
        public func callAsFunction(_ raw: RawJSON) {
            guard let id, claim() else { return }
            send(.ack(id: id, data: raw))
        }

        /// Answers with several values: a Socket.IO server receives them as the ack's
        /// arguments, a Parley server's envelope as `data` (``EventArguments/data``).
        public func callAsFunction(_ arguments: EventArguments) {
            guard let id, claim() else { return }
            if let namespace = socketIONamespace {
                sendSocketIO(.ack(namespace: namespace, id: id, arguments: arguments))
            } else {
                send(.ack(id: id, data: (try? arguments.resolvingAttachments())?.data))
            }
        }

        /// Answers with no data.
        public func callAsFunction() {
            guard let id, claim() else { return }
            send(.ack(id: id, data: nil))
        }

        /// Answers with an error: `{"ack":id,"error":{"message":...}}`; to a Socket.IO server,
        /// whose acknowledgements carry no error, one argument `{"error":{"message":...}}`.
        public func fail(_ message: String) {
            guard let id, claim() else { return }
            send(.ackError(id: id, message: message))
        }

        /// Two acks are equal when they answer the same question on the same connection.
        public static func == (lhs: Ack, rhs: Ack) -> Bool {
            lhs.id == rhs.id && lhs.transport === rhs.transport
        }

        private func claim() -> Bool {
            answered?.claim() ?? false
        }

        private func send(_ envelope: Envelope) {
            guard let namespace = socketIONamespace else {
                transport?.send(textUTF8: EnvelopeCodec.encode(envelope))
                return
            }
            switch envelope {
            case .ack(let id, let data):
                sendSocketIO(.ack(namespace: namespace, id: id, arguments: EventArguments(data: data)))
            case .ackError(let id, let message):
                sendSocketIO(.ack(namespace: namespace, id: id, arguments: EventArguments(data: Client.socketIOError(message))))
            case .event:
                break   // an answer is never an event
            }
        }

        private func sendSocketIO(_ packet: SocketIOPacket) {
            guard let transport else { return }
            _ = Client.transmit(Client.Frames(socketIO: packet), on: transport, volatile: false)
        }
    }
}

/// Makes an acknowledgement answerable once, from any thread.
final class AckOnce: Sendable {
    private let done = Atomic<Bool>(false)
    func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}
