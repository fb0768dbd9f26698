extension Client {
    /// Why a client disconnected: Socket.IO's client reason strings.
    ///
    /// After ``ioServerDisconnect`` and ``ioClientDisconnect`` the client stays disconnected
    /// until ``Client/connect()``; after the others it reconnects (when
    /// ``Options/reconnection`` is on).
    public enum DisconnectReason: String, Sendable, Equatable {
        /// The server disconnected the client on purpose (`socket.disconnect()` on the server).
        case ioServerDisconnect = "io server disconnect"
        /// The application called ``Client/disconnect()``.
        case ioClientDisconnect = "io client disconnect"
        /// Nothing arrived from the server within `pingInterval + pingTimeout`.
        case pingTimeout = "ping timeout"
        /// The connection closed: the server shut down (close 1001), the network dropped.
        case transportClose = "transport close"
        /// The connection failed on a protocol error (close 1002, 1003, 1007 or 1009).
        case transportError = "transport error"

        /// Whether the client reconnects on its own after this reason (if reconnection is on).
        public var reconnects: Bool {
            self != .ioServerDisconnect && self != .ioClientDisconnect
        }
    }
}
