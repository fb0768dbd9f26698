/// A message that arrived on a subscribed channel (or a channel matching a subscribed pattern).
public struct RedisPubSubMessage: Sendable, Equatable {
    /// The channel it was published on.
    public var channel: [UInt8]
    /// The pattern it matched, for `PSUBSCRIBE` subscriptions; nil for `SUBSCRIBE`.
    public var pattern: [UInt8]?
    /// The published bytes, as they were published.
    public var payload: [UInt8]

    /// - Parameters:
    ///   - channel: the channel it was published on.
    ///   - pattern: the matching `PSUBSCRIBE` pattern, nil for a plain subscription.
    ///   - payload: the published bytes.
    public init(channel: [UInt8], pattern: [UInt8]? = nil, payload: [UInt8]) {
        self.channel = channel
        self.pattern = pattern
        self.payload = payload
    }

    /// Reads a RESP2 push of a subscribed connection: `["message", channel, payload]` or
    /// `["pmessage", pattern, channel, payload]`; nil for anything else.
    init?(push: [RESPValue]) {
        guard let kind = push.first?.bytes else { return nil }
        if kind == Self.message, push.count == 3, let channel = push[1].bytes, let payload = push[2].bytes {
            self.init(channel: channel, payload: payload)
        } else if kind == Self.pmessage, push.count == 4, let pattern = push[1].bytes,
                  let channel = push[2].bytes, let payload = push[3].bytes {
            self.init(channel: channel, pattern: pattern, payload: payload)
        } else {
            return nil
        }
    }

    private static let message = Array("message".utf8)
    private static let pmessage = Array("pmessage".utf8)
}
