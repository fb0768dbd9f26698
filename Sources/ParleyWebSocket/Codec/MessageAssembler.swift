/// Turns frames into messages and control events (RFC 6455 5.4–5.6). Pure: no I/O.
///
/// Checks the rules that span frames: continuation frames need a message in progress, a new
/// data message may not start inside another, text is valid UTF-8 (validated fragment by
/// fragment, so it fails fast), the assembled message stays within `maxMessageSize`, and close
/// payloads carry a valid code and UTF-8 reason.
public struct MessageAssembler: Sendable {
    /// What a frame amounts to.
    public enum Event: Sendable, Equatable {
        case message(WebSocketMessage)
        case ping([UInt8])
        case pong([UInt8])
        /// A close frame: its code (nil when the payload was empty, i.e. 1005) and reason.
        case close(code: CloseCode?, reason: String)
    }

    /// The largest message, in bytes, summed over its fragments.
    public let maxMessageSize: Int
    private var state = Fragments()

    /// The fragmented message in progress: what a connection keeps between frames (16 bytes,
    /// no storage when there is none), the limit being its server's.
    struct Fragments: Sendable {
        var bytes: [UInt8] = []
        /// The opcode of the fragmented message in progress, if any.
        var opcode: Opcode?
        var utf8 = UTF8Validator()
    }

    /// - Parameter maxMessageSize: messages longer than this fail with ``WebSocketError/messageTooBig(limit:)``.
    public init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes held for a fragmented message in progress.
    public var bufferedByteCount: Int { state.bytes.count }

    /// Takes one frame; returns the event it completes, or nil for a non-final fragment.
    /// - Throws: ``WebSocketError`` when the frame breaks a rule.
    public mutating func receive(_ frame: Frame) throws -> Event? {
        var message: WebSocketMessage?
        let event = try receive(frame) { opcode, payload in message = Self.message(opcode, payload) }
        return message.map { .message($0) } ?? event
    }

    /// Takes one frame; a data message it completes goes to `onMessage` as bytes borrowed for
    /// the call (text already validated as UTF-8, the only validation it gets), without a
    /// `String` or an array made for it. Control frames are returned as events.
    ///
    /// ```swift
    /// let event = try assembler.receive(frame) { opcode, payload in handle(opcode, payload) }
    /// ```
    /// - Parameters:
    ///   - frame: the frame, as the ``FrameParser`` handed it over.
    ///   - onMessage: called with `.text` or `.binary` and the message's bytes, valid only
    ///     during the call (they lie in the parser's buffer or in the fragments kept here).
    /// - Returns: the control event the frame is, or nil (a data frame).
    /// - Throws: ``WebSocketError`` when the frame breaks a rule, or what `onMessage` throws.
    public mutating func receive(_ frame: Frame, onMessage: (Opcode, UnsafeRawBufferPointer) throws -> Void) throws -> Event? {
        try Self.receive(frame, into: &state, maxMessageSize: maxMessageSize, onMessage: onMessage)
    }

    /// ``receive(_:onMessage:)`` with the fragments held by the caller (a connection keeps
    /// only them; the limit is its server's).
    static func receive(_ frame: Frame, into fragments: inout Fragments, maxMessageSize: Int,
                        onMessage: (Opcode, UnsafeRawBufferPointer) throws -> Void) throws -> Event? {
        switch frame.opcode {
        case .text, .binary:
            // RFC 6455 5.4: a data frame may not start while a fragmented message is in progress.
            guard fragments.opcode == nil else { throw WebSocketError.protocolViolation("new data frame inside a fragmented message") }
            if frame.fin {
                guard frame.payload.count <= maxMessageSize else { throw WebSocketError.messageTooBig(limit: maxMessageSize) }
                // RFC 6455 8.1: text MUST be valid UTF-8 (ASCII runs are checked 8 bytes at a time).
                guard frame.opcode == .binary || UTF8Validator.isValid(frame.payload) else { throw WebSocketError.invalidUTF8 }
                try onMessage(frame.opcode, frame.payload)
                return nil
            }
            try append(frame.payload, opcode: frame.opcode, to: &fragments, maxMessageSize: maxMessageSize)
            fragments.opcode = frame.opcode
            return nil
        case .continuation:
            // RFC 6455 5.4: a continuation frame needs a fragmented message in progress.
            guard let opcode = fragments.opcode else { throw WebSocketError.protocolViolation("continuation frame without a message") }
            try append(frame.payload, opcode: opcode, to: &fragments, maxMessageSize: maxMessageSize)
            guard frame.fin else { return nil }
            // RFC 6455 8.1: a text message may not end inside a character.
            guard opcode == .binary || fragments.utf8.isComplete else { throw WebSocketError.invalidUTF8 }
            let message = fragments.bytes
            fragments = Fragments()
            try message.withUnsafeBytes { try onMessage(opcode, $0) }
            return nil
        case .ping:
            return .ping(Array(frame.payload))
        case .pong:
            return .pong(Array(frame.payload))
        case .close:
            return try close(frame.payload)
        }
    }

    private static func append(_ payload: UnsafeRawBufferPointer, opcode: Opcode, to fragments: inout Fragments, maxMessageSize: Int) throws {
        guard fragments.bytes.count + payload.count <= maxMessageSize else { throw WebSocketError.messageTooBig(limit: maxMessageSize) }
        // RFC 6455 8.1: fail as soon as the text cannot be valid UTF-8.
        if opcode == .text && !fragments.utf8.consume(payload) { throw WebSocketError.invalidUTF8 }
        fragments.bytes.append(contentsOf: payload)
    }

    /// A message of validated bytes.
    private static func message(_ opcode: Opcode, _ payload: UnsafeRawBufferPointer) -> WebSocketMessage {
        if opcode == .binary { return .binary(Array(payload)) }
        return .text(String(decoding: payload, as: UTF8.self))
    }

    /// Decodes a close payload (RFC 6455 5.5.1, 7.4).
    private static func close(_ payload: UnsafeRawBufferPointer) throws -> Event {
        if payload.isEmpty { return .close(code: nil, reason: "") }
        // RFC 6455 5.5.1: a close body starts with a 2-byte code, so 1 byte is malformed.
        guard payload.count >= 2 else { throw WebSocketError.protocolViolation("close payload of 1 byte") }
        let code = CloseCode(UInt16(payload[0]) << 8 | UInt16(payload[1]))
        // RFC 6455 7.4: reserved or unassigned codes MUST NOT appear on the wire.
        guard code.isValidOnWire else { throw WebSocketError.protocolViolation("invalid close code \(code.rawValue)") }
        let reasonBytes = UnsafeRawBufferPointer(rebasing: payload[2...])
        // RFC 6455 5.5.1: the close reason is UTF-8.
        guard UTF8Validator.isValid(reasonBytes) else { throw WebSocketError.invalidUTF8 }
        return .close(code: code, reason: String(decoding: reasonBytes, as: UTF8.self))
    }
}
