/// Errors of the Parley server layer.
public enum ParleyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The peer did not acknowledge within the timeout.
    case ackTimeout(event: String)
    /// The peer answered an acknowledgement with an error.
    case ackFailed(message: String)
    /// The socket disconnected before the acknowledgement came.
    case disconnected
    /// Applications cannot emit reserved event names (`connect`, `connect_error`, `disconnect`,
    /// `disconnecting`, `error`, `heartbeat`).
    case reservedEvent(String)
    /// The value could not be encoded as JSON.
    case encodingFailed(String)
    /// Too many acknowledgements are pending on this socket.
    case tooManyPendingAcks(limit: Int)
    /// A room name longer than ``Server/Configuration/maxRoomNameBytes`` (UTF-8 bytes).
    case roomNameTooLong(limit: Int)
    /// The join would put the socket in more than ``Server/Configuration/maxRoomsPerSocket`` rooms.
    case tooManyRooms(limit: Int)
    /// Room names of the form of a socket id (22 base64url characters) are reserved: each names
    /// the room of that one socket, which no other socket may join.
    case reservedRoomName(String)

    public var description: String {
        switch self {
        case .ackTimeout(let event): return "no acknowledgement for '\(event)' in time"
        case .ackFailed(let message): return "acknowledgement failed: \(message)"
        case .disconnected: return "the socket is disconnected"
        case .reservedEvent(let name): return "'\(name)' is a reserved event name"
        case .encodingFailed(let why): return "cannot encode as JSON: \(why)"
        case .tooManyPendingAcks(let limit): return "more than \(limit) acknowledgements pending"
        case .roomNameTooLong(let limit): return "room name over \(limit) bytes"
        case .tooManyRooms(let limit): return "more than \(limit) rooms per socket"
        case .reservedRoomName(let name): return "'\(name)' is reserved: room names of 22 base64url characters name sockets"
        }
    }
}

/// Thrown by connection middleware to refuse a client: the client receives `connect_error`
/// with this message and optional data, then a close frame.
///
/// ```swift
/// io.use { handshake in
///     guard handshake.query("token", matchesSecret: "secret") else { throw ConnectError("unauthorized") }
/// }
/// ```
public struct ConnectError: Error, Sendable, Equatable {
    public var message: String
    public var data: RawJSON?

    /// - Parameters:
    ///   - message: shown to the client in `connect_error`.
    ///   - data: optional JSON detail for the client.
    public init(_ message: String, data: RawJSON? = nil) {
        self.message = message
        self.data = data
    }
}

/// Why a socket disconnected: Socket.IO's reason strings.
public enum DisconnectReason: String, Sendable, Equatable {
    /// The connection closed (the client went away with a close code other than 1000, or the
    /// network dropped).
    case transportClose = "transport close"
    /// The connection failed with a protocol error.
    case transportError = "transport error"
    /// Nothing came back within `pingTimeout` after a ping.
    case pingTimeout = "ping timeout"
    /// The client closed the connection normally (close code 1000).
    case clientNamespaceDisconnect = "client namespace disconnect"
    /// The server called `socket.disconnect()`.
    case serverNamespaceDisconnect = "server namespace disconnect"
    /// The server is shutting down.
    case serverShuttingDown = "server shutting down"
    /// The client sent something that is not the protocol (a binary frame).
    case parseError = "parse error"
}

import ParleyProtocol
