import Foundation
import ParleyProtocol
import ParleyWebSocket

// Where the two dialects part: how an event is encoded and written. Everything above (emit,
// the offline buffer, acks, reconnection) is the same for both.

extension Client {
    /// The protocol a client speaks (``Options/protocol``).
    public enum Dialect: Sendable, Equatable {
        /// Parley's envelope, `{"event":...,"data":...}` in text frames (Protocol.md): a Parley
        /// server's own endpoint, e.g. `ws://localhost:8887/parley`.
        case parley
        /// Socket.IO v5 over Engine.IO v4's WebSocket transport, which every Socket.IO server
        /// accepts: Node's `socket.io`, `python-socketio`, a Parley server's `/socket.io/`. The
        /// URL is the server's, e.g. `http://localhost:3000`; its path, when it has one, replaces
        /// Socket.IO's default `/socket.io/`.
        case socketIO
    }

    /// One message on the wire: a text frame and the binary frames that follow it (a Socket.IO
    /// binary event's attachments; none on the envelope).
    struct Frames: Sendable {
        var text: [UInt8]
        var attachments: [[UInt8]] = []

        init(text: [UInt8], attachments: [[UInt8]] = []) {
            self.text = text
            self.attachments = attachments
        }

        /// A buffered emit's frames.
        init(_ message: Outbox<AckWaiter>.Message) {
            self.init(text: message.bytes, attachments: message.attachments)
        }

        /// A Socket.IO packet as an Engine.IO message (`4` and the packet), then its attachments.
        init(socketIO packet: SocketIOPacket) {
            var text: [UInt8] = [UInt8(ascii: "4")]
            text += SocketIOCodec.encode(packet)
            switch packet {
            case .event(_, _, let arguments, _), .ack(_, _, let arguments): self.init(text: text, attachments: arguments.attachments)
            case .connect, .disconnect, .connectError: self.init(text: text)
            }
        }
    }

    /// An event in the client's dialect. On the envelope, attachments become base64 strings
    /// (as `JSONEncoder` writes `Data`) and several arguments one array (``EventArguments/data``).
    func encodeEvent(_ name: String, _ arguments: EventArguments, id: UInt64?) -> Frames {
        switch options.protocol {
        case .parley:
            let data = arguments.attachments.isEmpty ? arguments.data : (try? arguments.resolvingAttachments())?.data
            return Frames(text: EnvelopeCodec.encode(.event(name: name, data: data, id: id)))
        case .socketIO:
            return Frames(socketIO: .event(namespace: socketIONamespace, name: name, arguments: arguments, id: id))
        }
    }

    /// Writes `frames` in order. A volatile message whose text frame is dropped is dropped whole.
    /// - Returns: what became of the text frame.
    static func transmit(_ frames: Frames, on transport: WebSocket, volatile: Bool) -> WebSocket.SendResult {
        let outcome = volatile
            ? transport.send(frames.text.withUnsafeBytes { EncodedFrame(opcode: .text, payload: $0) }, volatile: true)
            : transport.send(textUTF8: frames.text)
        guard outcome == .enqueued || outcome == .scheduled else { return outcome }
        for attachment in frames.attachments { _ = transport.send(binary: attachment) }
        return outcome
    }

    /// The arguments of an emit of `value`: `Data` is a binary argument (a Socket.IO attachment,
    /// base64 on the envelope), anything else its JSON.
    static func arguments<T: Encodable>(_ value: T) throws(ClientError) -> EventArguments {
        if let bytes = value as? Data { return EventArguments(binary: [UInt8](bytes)) }
        return EventArguments(data: try encode(value))
    }
}
