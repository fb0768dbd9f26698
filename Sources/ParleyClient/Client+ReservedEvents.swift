import ParleyProtocol
import ParleyWebSocket

// Socket.IO's connection event names, as a Socket.IO user registers them with `on`: they reach
// the connection events with Socket.IO's payloads; names that never reach a client are refused
// at registration, never accepted and left to never run.

extension Client {
    /// What a handler passed to `on(_:_:)` takes, enough to route a connection event name.
    struct HandlerSignature: Sendable {
        /// The handler's data type by name, for messages; nil when it takes no data.
        var dataType: String?
        /// Whether the handler's data type takes the payload of the event it is registered
        /// for; nil when it takes no data, or the event is an application event.
        var takesPayload: Bool?
        /// Whether the handler takes an ``Client/Ack``.
        var takesAck: Bool

        static func data<T: Decodable>(_ type: T.Type, ack: Bool, event: String) -> Self {
            let samples = Client.connectionKind(named: event).map(Client.samplePayloads)
            let takes = samples.map { $0.contains { (try? $0.decode(T.self)) != nil } }
            return Self(dataType: String(describing: type), takesPayload: takes, takesAck: ack)
        }

        static func noData(ack: Bool) -> Self {
            Self(dataType: nil, takesPayload: nil, takesAck: ack)
        }
    }

    /// Where a handler registered with `on(event)` goes.
    enum Route: Equatable {
        /// An application event from the server.
        case event
        /// A connection event, its payload handed over as Socket.IO's client does.
        case connection(ClientEvent.Kind)
        /// Never delivered to this handler: the message names the call to write instead.
        case refused(String)
    }

    /// The connection event Socket.IO's client calls `name`, if any.
    static func connectionKind(named name: String) -> ClientEvent.Kind? {
        switch name {
        case "connect": return .connect
        case "disconnect": return .disconnect
        case "connect_error": return .connectError
        case "reconnect_attempt": return .reconnectAttempt
        case "reconnect": return .reconnect
        case "reconnect_error": return .reconnectError
        case "reconnect_failed": return .reconnectFailed
        default: return nil
        }
    }

    /// Routes `on(event)` for a handler of `signature`: pure, so the refusals are testable.
    static func route(_ event: String, _ signature: HandlerSignature) -> Route {
        switch event {
        case "disconnecting":
            return .refused("client.on(\"disconnecting\") never runs: 'disconnecting' is a server socket's event; write client.on(\"disconnect\") { (reason: String) in ... }")
        case "heartbeat":
            return .refused("client.on(\"heartbeat\") never runs: heartbeats are the protocol's own (Protocol.md 5.4) and never reach handlers")
        default:
            break
        }
        guard let kind = connectionKind(named: event) else { return .event }
        let (payload, right) = Self.usage(of: kind)
        if signature.takesAck {
            return .refused("client.on(\"\(event)\"): '\(event)' comes from the client itself and has nothing to acknowledge; write \(right)")
        }
        if signature.takesPayload == false {
            return .refused("client.on(\"\(event)\"): its payload is \(payload), which \(signature.dataType ?? "the handler") cannot take; write \(right)")
        }
        return .connection(kind)
    }

    /// What a connection event carries, and the calls that take it.
    private static func usage(of kind: ClientEvent.Kind) -> (payload: String, calls: String) {
        switch kind {
        case .connect: return ("nothing", #"client.on("connect") { ... } or client.on(.connect) { ... }"#)
        case .disconnect: return ("the reason, a String", #"client.on("disconnect") { (reason: String) in ... } or client.on(.disconnect) { reason in ... }"#)
        case .connectError: return ("the message, a String", #"client.on("connect_error") { (message: String) in ... } or client.on(.connectError) { error in ... }"#)
        case .reconnectAttempt: return ("the attempt number, an Int", #"client.on("reconnect_attempt") { (attempt: Int) in ... } or client.on(.reconnectAttempt) { attempt in ... }"#)
        case .reconnect: return ("the number of attempts, an Int", #"client.on("reconnect") { (attempts: Int) in ... } or client.on(.reconnect) { attempts in ... }"#)
        case .reconnectError: return ("the error message, a String", #"client.on("reconnect_error") { (message: String) in ... } or client.on(.reconnectError) { error in ... }"#)
        case .reconnectFailed: return ("nothing", #"client.on("reconnect_failed") { ... } or client.on(.reconnectFailed) { ... }"#)
        case .event: return ("the event's data", #"client.on("EVENT") { (data: T) in ... }"#)
        }
    }

    /// Payloads of the shape a connection event of `kind` delivers, to check a handler's type.
    static func samplePayloads(_ kind: ClientEvent.Kind) -> [RawJSON] {
        switch kind {
        case .connect: return payloads(of: .connect)
        case .disconnect: return payloads(of: .disconnect(reason: .transportClose))
        case .connectError: return payloads(of: .connectError(message: "refused", data: nil))
        case .reconnectAttempt: return payloads(of: .reconnectAttempt(1))
        case .reconnect: return payloads(of: .reconnect(1))
        case .reconnectError: return payloads(of: .reconnectError(.connectTimeout))
        case .reconnectFailed: return payloads(of: .reconnectFailed)
        case .event: return []
        }
    }

    /// A connection event's payload as JSON, in the forms a handler may take, preferred first:
    /// `connect_error` is its message as a string, or `{"message":...,"data":...}` for a
    /// `Decodable` that wants the detail too.
    static func payloads(of event: ClientEvent) -> [RawJSON] {
        switch event {
        case .connect, .reconnectFailed: return [.null]
        case .disconnect(let reason): return [.string(reason.rawValue)]
        case .connectError(let message, let data):
            var object = Array(#"{"message":"#.utf8)
            EnvelopeCodec.appendJSONString(message, to: &object)
            object += Array(#","data":"#.utf8) + (data ?? .null).bytes + [UInt8(ascii: "}")]
            return [.string(message), RawJSON(unchecked: object)]
        case .reconnectAttempt(let number), .reconnect(let number): return [RawJSON(unchecked: Array(String(number).utf8))]
        case .reconnectError(let error): return [.string(error.description)]
        case .event(_, let data, _): return [data ?? .null]
        }
    }

    /// Adds a handler registered with `on(event)` where ``route(_:_:)`` sends it.
    func register(_ event: String, _ signature: HandlerSignature, once: Bool,
                  application: @escaping Call, connection: Call?) -> Int {
        switch Self.route(event, signature) {
        case .event:
            return add(.event(event), once: once, application)
        case .connection(let kind):
            // `route` refuses a handler taking an ack, the only kind without a connection form.
            guard let connection else { preconditionFailure("parley: client.on(\"\(event)\"): no connection handler") }
            return add(.connection(kind), once: once, connection)
        case .refused(let message):
            // A programming error in the registration itself, the same on every run: stopping
            // here names the fix, where accepting would leave a handler that never runs.
            preconditionFailure("parley: \(message)")
        }
    }

    /// A connection event handler taking the payload as `T` (the first form that decodes).
    func connection<T: Decodable & Sendable>(_ handler: @escaping @Sendable (T) throws -> Void) -> Call {
        { [weak self] delivered in
            for payload in Self.payloads(of: delivered) {
                guard let value = try? payload.decode(T.self) else { continue }
                do { try handler(value) } catch { self?.report(error, from: delivered.name, ack: nil) }
                return
            }
        }
    }

    /// Reports what a handler threw: always logged (an error is never swallowed), and an
    /// acknowledgement the server asked for fails without the error's details.
    func report(_ error: any Error, from event: String, ack: Ack?) {
        options.logger.error("parley client: handler of '\(event)' threw: \(error)")
        if let ack, ack.isRequested { ack.fail("the client failed to handle '\(event)'") }
    }
}

extension ClientEvent {
    /// Socket.IO's name of the event (`connect`, `reconnect_attempt`, the application event's name).
    var name: String {
        switch self {
        case .connect: return "connect"
        case .disconnect: return "disconnect"
        case .connectError: return "connect_error"
        case .reconnectAttempt: return "reconnect_attempt"
        case .reconnect: return "reconnect"
        case .reconnectError: return "reconnect_error"
        case .reconnectFailed: return "reconnect_failed"
        case .event(let name, _, _): return name
        }
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
