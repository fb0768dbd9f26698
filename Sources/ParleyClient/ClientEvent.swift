import ParleyProtocol

/// Everything that happens to a ``Client``, in the order it happened: connection events with
/// Socket.IO's names and meaning, and the application events the server sends.
///
/// Handlers get them one kind at a time (`client.on(.disconnect) { reason in ... }`,
/// `client.on("chat") { ... }`); ``Client/events`` gives all of them as an `AsyncSequence`:
///
/// ```swift
/// for await event in client.events {
///     switch event {
///     case .connect: print("connected as", client.id ?? "?")
///     case .disconnect(let reason): print("disconnected:", reason.rawValue)
///     case .event("chat", let data, _): print("chat:", data ?? .null)
///     default: print(event)
///     }
/// }
/// ```
public enum ClientEvent: Sendable, Equatable, CustomStringConvertible {
    /// `connect`: the server accepted the client (``Client/id`` is set). Emits buffered while
    /// disconnected have just been sent.
    case connect
    /// `disconnect`: the connection ended; see the reason for what happens next.
    case disconnect(reason: Client.DisconnectReason)
    /// `connect_error`: a connection attempt failed. From the server's middleware (`data` is
    /// its optional detail; no automatic retry), or from the transport (the message is the
    /// error; retried when reconnection is on).
    case connectError(message: String, data: RawJSON?)
    /// `reconnect_attempt`: reconnection attempt `n` (1, 2, ...) starts now.
    case reconnectAttempt(Int)
    /// `reconnect`: reconnected after `n` attempts (followed by ``connect``).
    case reconnect(Int)
    /// `reconnect_error`: a reconnection attempt failed (after its ``connectError(message:data:)``).
    case reconnectError(ClientError)
    /// `reconnect_failed`: the last of ``Client/Options/reconnectionAttempts`` failed; the
    /// client stays disconnected until ``Client/connect()``.
    case reconnectFailed
    /// An application event from the server; `ack` answers it when the server asked for an
    /// acknowledgement (`ack.isRequested`).
    case event(name: String, data: RawJSON?, ack: Client.Ack)

    /// Socket.IO's name and the payload, e.g. `disconnect(transport close)`, `reconnect_attempt(2)`.
    public var description: String {
        switch self {
        case .connect: return "connect"
        case .disconnect(let reason): return "disconnect(\(reason.rawValue))"
        case .connectError(let message, let data): return "connect_error(\(message)\(data.map { ", \($0)" } ?? ""))"
        case .reconnectAttempt(let attempt): return "reconnect_attempt(\(attempt))"
        case .reconnect(let attempts): return "reconnect(\(attempts))"
        case .reconnectError(let error): return "reconnect_error(\(error))"
        case .reconnectFailed: return "reconnect_failed"
        case .event(let name, let data, let ack):
            return "\(name)(\(data.map(\.description) ?? ""))" + (ack.id.map { " ack \($0)" } ?? "")
        }
    }

    /// The case without its payload: what a handler is registered for.
    enum Kind: Sendable, Equatable {
        case connect, disconnect, connectError, reconnectAttempt, reconnect, reconnectError, reconnectFailed, event
    }

    var kind: Kind {
        switch self {
        case .connect: return .connect
        case .disconnect: return .disconnect
        case .connectError: return .connectError
        case .reconnectAttempt: return .reconnectAttempt
        case .reconnect: return .reconnect
        case .reconnectError: return .reconnectError
        case .reconnectFailed: return .reconnectFailed
        case .event: return .event
        }
    }
}

extension ClientEvent {
    /// A connection event to handle with its payload typed:
    /// `client.on(.reconnectAttempt) { attempt in ... }`.
    public struct Key<Payload: Sendable>: Sendable {
        let kind: Kind
        let payload: @Sendable (ClientEvent) -> Payload?
    }
}

extension ClientEvent.Key where Payload == Void {
    /// `connect`: the server accepted the client.
    public static var connect: Self { Self(kind: .connect) { _ in () } }
    /// `reconnect_failed`: the last reconnection attempt failed.
    public static var reconnectFailed: Self { Self(kind: .reconnectFailed) { _ in () } }
}

extension ClientEvent.Key where Payload == Client.DisconnectReason {
    /// `disconnect`, with the reason.
    public static var disconnect: Self {
        Self(kind: .disconnect) { if case .disconnect(let reason) = $0 { reason } else { nil } }
    }
}

extension ClientEvent.Key where Payload == (message: String, data: RawJSON?) {
    /// `connect_error`, with the server's message and optional data (or the transport error).
    public static var connectError: Self {
        Self(kind: .connectError) { if case .connectError(let message, let data) = $0 { (message, data) } else { nil } }
    }
}

extension ClientEvent.Key where Payload == Int {
    /// `reconnect_attempt`, with the attempt number (from 1).
    public static var reconnectAttempt: Self {
        Self(kind: .reconnectAttempt) { if case .reconnectAttempt(let attempt) = $0 { attempt } else { nil } }
    }
    /// `reconnect`, with the number of attempts it took.
    public static var reconnect: Self {
        Self(kind: .reconnect) { if case .reconnect(let attempts) = $0 { attempts } else { nil } }
    }
}

extension ClientEvent.Key where Payload == ClientError {
    /// `reconnect_error`, with the error of the failed attempt.
    public static var reconnectError: Self {
        Self(kind: .reconnectError) { if case .reconnectError(let error) = $0 { error } else { nil } }
    }
}
