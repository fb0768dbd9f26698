import ParleyProtocol
import ParleyWebSocket

// Socket.IO's reserved event names, as a Socket.IO user registers them with `on`: the lifecycle
// names reach the lifecycle handlers; the names that never reach a server socket are refused at
// registration, never accepted and left to never run.

extension Socket {
    /// What a handler passed to `on` takes, enough to route a reserved name.
    struct HandlerSignature: Sendable {
        /// The handler's data type by name, for messages.
        var dataType: String?
        /// Whether a reason string decodes as the handler's data type; nil when it takes no data.
        var takesReason: Bool?
        /// Whether the handler takes an ``Ack``.
        var takesAck: Bool

        static func data<T: Decodable>(_ type: T.Type, ack: Bool) -> Self {
            Self(dataType: String(describing: type), takesReason: (try? Socket.sampleReason.decode(T.self)) != nil, takesAck: ack)
        }

        static func noData(ack: Bool) -> Self {
            Self(dataType: nil, takesReason: nil, takesAck: ack)
        }
    }

    /// Where a handler registered with `on(event)` goes.
    enum Route: Equatable {
        /// An application event from the client.
        case event
        /// ``Socket/onDisconnecting(_:)``, with the reason string as the data.
        case disconnecting
        /// ``Socket/onDisconnect(_:)``, with the reason string as the data.
        case disconnect
        /// Never delivered to this handler: the message names the call to write instead.
        case refused(String)
    }

    /// Routes `on(event)` for a handler of `signature`: pure, so the refusals are testable.
    static func route(_ event: String, _ signature: HandlerSignature) -> Route {
        switch event {
        case "disconnecting", "disconnect":
            let call = event == "disconnect" ? "onDisconnect" : "onDisconnecting"
            let right = "socket.on(\"\(event)\") { (reason: String) in ... } or socket.\(call) { reason in ... }"
            if signature.takesAck {
                return .refused("socket.on(\"\(event)\"): '\(event)' comes from the server itself and has nothing to acknowledge; write \(right)")
            }
            if signature.takesReason == false {
                return .refused("socket.on(\"\(event)\"): the reason is a String, which \(signature.dataType ?? "the handler's type") cannot take; write \(right)")
            }
            return event == "disconnect" ? .disconnect : .disconnecting
        case "connect":
            return .refused("socket.on(\"connect\") never runs: a server socket is already connected when it is handed out; put that code in io.onConnection { socket in ... }")
        case "connect_error":
            return .refused("socket.on(\"connect_error\") never runs: clients are refused before a socket exists; throw ConnectError(\"...\") in io.use { handshake in ... } instead")
        case "error":
            return .refused("socket.on(\"error\") never runs: invalid data from a client is answered by the server itself (Protocol.md section 8); errors a handler throws are logged")
        case "heartbeat":
            return .refused("socket.on(\"heartbeat\") never runs: heartbeats are answered by the server itself (Protocol.md 5.4)")
        default:
            return .event
        }
    }

    /// A reason as handlers of `on("disconnect")` receive it, to check a handler's type with.
    static let sampleReason = RawJSON.string(DisconnectReason.transportClose.rawValue)

    /// Registers a handler of the arguments as they are (see the ``Callback`` form).
    func register(_ event: String, _ signature: HandlerSignature, once: Bool, _ handler: @escaping Handler) -> Int {
        register(event, signature, once: once, .arguments(handler))
    }

    /// Adds a handler registered with `on(event)` where ``route(_:_:)`` sends it.
    func register(_ event: String, _ signature: HandlerSignature, once: Bool, _ handler: Callback) -> Int {
        switch Self.route(event, signature) {
        case .event:
            return addHandler(event, once: once, handler)
        case .disconnecting:
            return onDisconnecting { [unowned self] reason in
                try handler.call(EventArguments(data: .string(reason.rawValue)), Ack(socket: self, id: nil), socket: self, event: event)
            }
        case .disconnect:
            return onDisconnect { [unowned self] reason in
                try handler.call(EventArguments(data: .string(reason.rawValue)), Ack(socket: self, id: nil), socket: self, event: event)
            }
        case .refused(let message):
            // A programming error in the registration itself, the same on every run: stopping
            // here names the fix, where accepting would leave a handler that never runs.
            preconditionFailure("parley: \(message)")
        }
    }

    /// Reports what a handler threw: always logged (an error is never swallowed), and an
    /// acknowledgement the client asked for fails without the error's details.
    func report(_ error: any Error, from event: String, ack: Ack?) {
        namespace.logger.error("parley: socket \(id) namespace \(namespace.name): handler of '\(event)' threw: \(error)")
        if let ack, ack.isRequested { ack.fail("the server failed to handle '\(event)'") }
    }
}

extension RawJSON {
    /// `text` as a JSON string.
    static func string(_ text: String) -> RawJSON {
        var bytes: [UInt8] = []
        EnvelopeCodec.appendJSONString(text, to: &bytes)
        return RawJSON(unchecked: bytes)
    }
}
