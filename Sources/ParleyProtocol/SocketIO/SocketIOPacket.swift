/// One Socket.IO v5 packet, carried in an Engine.IO message.
///
/// ```
/// 0{"token":"x"}               .connect(namespace: "/", payload: {"token":"x"})
/// 0/admin,{"sid":"Gd3..."}     .connect(namespace: "/admin", payload: {"sid":"Gd3..."})
/// 1/admin,                     .disconnect(namespace: "/admin")
/// 2["chat","hi"]               .event(namespace: "/", name: "chat", arguments: ["hi"], id: nil)
/// 2/admin,12["add",1,2]        .event(namespace: "/admin", name: "add", arguments: [1,2], id: 12)
/// 312[3]                       .ack(namespace: "/", id: 12, arguments: [3])
/// 4{"message":"unauthorized"}  .connectError(namespace: "/", payload: {"message":"unauthorized"})
/// 51-["file",{"_placeholder":true,"num":0}]  + 1 binary message   (BINARY_EVENT)
/// 61-12[{"_placeholder":true,"num":0}]       + 1 binary message   (BINARY_ACK)
/// ```
///
/// Binary events and acks are ``event(namespace:name:arguments:id:)`` and
/// ``ack(namespace:id:arguments:)`` whose arguments have attachments. ``SocketIOCodec`` reads
/// and writes packets; ``SocketIOBinaryAssembler`` joins a binary packet and its attachments.
public enum SocketIOPacket: Sendable, Equatable {
    /// `0`: a client asks to join `namespace`, `payload` being its `auth` object; the server's
    /// answer carries `{"sid":...}`.
    case connect(namespace: String, payload: RawJSON?)
    /// `1`: leaving `namespace` (either side).
    case disconnect(namespace: String)
    /// `2` (or `5` with attachments): an event; a non-nil `id` asks for an acknowledgement.
    case event(namespace: String, name: String, arguments: EventArguments, id: UInt64?)
    /// `3` (or `6` with attachments): the acknowledgement of event `id`.
    case ack(namespace: String, id: UInt64, arguments: EventArguments)
    /// `4`: the server refused the connection to `namespace`: `{"message":...,"data":...}`.
    case connectError(namespace: String, payload: RawJSON)

    /// The namespace the packet belongs to.
    public var namespace: String {
        switch self {
        case .connect(let namespace, _), .disconnect(let namespace), .event(let namespace, _, _, _),
             .ack(let namespace, _, _), .connectError(let namespace, _):
            return namespace
        }
    }
}
