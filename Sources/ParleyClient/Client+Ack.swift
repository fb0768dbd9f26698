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

        init(id: UInt64?, transport: WebSocket) {
            self.id = id
            self.transport = id == nil ? nil : transport
            answered = id == nil ? nil : AckOnce()
        }

        /// Whether the server asked for an acknowledgement.
        public var isRequested: Bool { id != nil }

        /// Answers with `value` as the ack's `data` (an error ack if it cannot be encoded).
        public func callAsFunction<T: Encodable>(_ value: T) {
            guard let id, claim() else { return }
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

        /// Answers with no data.
        public func callAsFunction() {
            guard let id, claim() else { return }
            send(.ack(id: id, data: nil))
        }

        /// Answers with an error: `{"ack":id,"error":{"message":...}}`.
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
            transport?.send(textUTF8: EnvelopeCodec.encode(envelope))
        }
    }
}

/// Makes an acknowledgement answerable once, from any thread.
final class AckOnce: Sendable {
    private let done = Atomic<Bool>(false)
    func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}
