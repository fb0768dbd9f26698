/// The event names only the protocol may use (Protocol.md, "Reserved events"): applications
/// cannot emit them, and a server never hands them to application handlers. The server, the
/// Swift client and the tests all check names against this one list.
///
/// ```swift
/// ReservedEvents.contains("connect")   // true
/// ReservedEvents.contains("chat")      // false
/// ```
public enum ReservedEvents {
    /// The server accepted the client; data `{"id", "pingInterval", "pingTimeout"}`.
    public static let connect = "connect"
    /// The server refused the client (middleware, unknown namespace); data `{"message", "data"?}`.
    public static let connectError = "connect_error"
    /// The server disconnected the client; data `{"reason"}`.
    public static let disconnect = "disconnect"
    /// Server-side lifecycle name (`onDisconnecting`), never sent.
    public static let disconnecting = "disconnecting"
    /// The server could not handle an event; data `{"message"}`.
    public static let error = "error"
    /// A browser client's liveness check, answered by the server (Protocol.md 5.4).
    public static let heartbeat = "heartbeat"

    /// Every reserved name.
    public static let all: Set<String> = [connect, connectError, disconnect, disconnecting, error, heartbeat]

    /// Whether `name` is reserved: its length picks the one or two names it could be, so an
    /// ordinary name costs a length check (no hashing, no string compare) per event.
    @inlinable
    public static func contains(_ name: String) -> Bool {
        switch name.utf8.count {
        case 5: return name == "error"
        case 7: return name == "connect"
        case 9: return name == "heartbeat"
        case 10: return name == "disconnect"
        case 13: return name == "connect_error" || name == "disconnecting"
        default: return false
        }
    }
}
