/// A WebSocket close status code (RFC 6455 7.4).
public struct CloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// 1000: the purpose of the connection is fulfilled.
    public static let normalClosure = CloseCode(1000)
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    public static let goingAway = CloseCode(1001)
    /// 1002: the peer broke the protocol.
    public static let protocolError = CloseCode(1002)
    /// 1003: a data type the endpoint cannot accept.
    public static let unsupportedData = CloseCode(1003)
    /// 1005: no status code was present (never sent on the wire).
    public static let noStatusReceived = CloseCode(1005)
    /// 1006: the connection dropped without a close frame (never sent on the wire).
    public static let abnormalClosure = CloseCode(1006)
    /// 1007: a text message or close reason was not valid UTF-8.
    public static let invalidPayload = CloseCode(1007)
    /// 1008: a message violated the endpoint's policy.
    public static let policyViolation = CloseCode(1008)
    /// 1009: a frame or message was too big to process.
    public static let messageTooBig = CloseCode(1009)
    /// 1010: the client expected an extension the server did not negotiate.
    public static let mandatoryExtension = CloseCode(1010)
    /// 1011: the server hit an unexpected condition.
    public static let internalError = CloseCode(1011)
    /// 1013 (IANA registry): the server is overloaded; the client may try again later.
    public static let tryAgainLater = CloseCode(1013)

    /// Whether this code may appear in a close frame on the wire (RFC 6455 7.4.1, 7.4.2).
    ///
    /// 1000–1003 and 1007–1011 are defined by RFC 6455; 1012–1014 were registered with IANA
    /// later; 3000–4999 belong to libraries and applications. 1004–1006, 1015 and everything
    /// else below 3000 are reserved and MUST NOT be sent.
    public var isValidOnWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }

    public var description: String { String(rawValue) }
}
