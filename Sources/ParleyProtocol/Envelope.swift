/// One Parley message: the JSON object carried by a WebSocket text frame.
///
/// ```
/// {"event":"chat","data":{"text":"hi"},"id":7}   .event(name: "chat", data: {"text":"hi"}, id: 7)
/// {"ack":7,"data":"ok"}                          .ack(id: 7, data: "ok")
/// {"ack":7,"error":{"message":"no room"}}        .ackError(id: 7, message: "no room")
/// ```
///
/// `data` is kept as raw JSON: a server relays it without decoding. Absent `data` is `nil`;
/// `"data":null` is ``RawJSON/null``. ``EnvelopeCodec`` reads and writes envelopes.
public enum Envelope: Sendable, Equatable {
    /// An event named `name`; a non-nil `id` asks the receiver for an acknowledgement with that id.
    case event(name: String, data: RawJSON?, id: UInt64?)
    /// The acknowledgement of the event whose `id` was `id`, answered with `data`.
    case ack(id: UInt64, data: RawJSON?)
    /// The acknowledgement of the event whose `id` was `id`, answered with an error.
    case ackError(id: UInt64, message: String)
}
