/// One broadcast operation as nodes exchange it over Redis: the selection of a
/// ``BroadcastOperator`` and what to do with the selected sockets. An emit carries the envelope
/// exactly as the emitting node encoded it, so receivers write those bytes without parsing
/// `data`. Pure: no I/O. The layout is documented in Protocol.md, "Scale-out over Redis":
///
/// ```
/// u8   version (1)
/// u8   flags (bit 0: volatile; the others are 0)
/// 16 B origin node id
/// u8   operation: 0 emit, 1 join rooms, 2 leave rooms, 3 disconnect
/// u16  room count, then per room: u16 length, UTF-8 name
/// u16  except-room count, then per room: u16 length, UTF-8 name
/// u16  except-socket id length (0: none), then the id
/// emit: the envelope (the text frame's payload), to the end
/// join, leave: u16 room count, then per room: u16 length, UTF-8 name
/// disconnect: nothing
/// ```
/// Integers are big-endian.
package struct ClusterMessage: Equatable, Sendable {
    /// What the receiving nodes do with the sockets they select.
    package enum Operation: Equatable, Sendable {
        /// Write this envelope to each.
        case emit(envelope: [UInt8])
        /// Make each join these rooms (`socketsJoin`).
        case join([String])
        /// Make each leave these rooms (`socketsLeave`).
        case leave([String])
        /// Disconnect each (`disconnectSockets`).
        case disconnect
    }

    /// Errors reading a message published by another node.
    enum DecodingError: Error, Equatable {
        case truncated
        case unsupportedVersion(UInt8)
        case unknownOperation(UInt8)
    }

    static let version: UInt8 = 1
    static let nodeIDLength = 16

    var origin: [UInt8]
    var rooms: [String]
    var exceptRooms: [String]
    var exceptSocket: String?
    var isVolatile: Bool
    var operation: Operation

    init(origin: [UInt8], rooms: [String], exceptRooms: [String], exceptSocket: String?, isVolatile: Bool, operation: Operation) {
        self.origin = origin
        self.rooms = rooms
        self.exceptRooms = exceptRooms
        self.exceptSocket = exceptSocket
        self.isVolatile = isVolatile
        self.operation = operation
    }

    /// The message's bytes; names longer than 65,535 bytes or more than 65,535 rooms (never
    /// produced by sockets) make it nil.
    package func encoded() -> [UInt8]? {
        precondition(origin.count == Self.nodeIDLength)
        var bytes: [UInt8] = []
        let names = rooms.reduce(0) { $0 + $1.utf8.count + 2 } + exceptRooms.reduce(0) { $0 + $1.utf8.count + 2 }
        if case .emit(let envelope) = operation {
            bytes.reserveCapacity(32 + names + envelope.count)
        }
        bytes.append(Self.version)
        bytes.append(isVolatile ? 1 : 0)
        bytes.append(contentsOf: origin)
        switch operation {
        case .emit: bytes.append(0)
        case .join: bytes.append(1)
        case .leave: bytes.append(2)
        case .disconnect: bytes.append(3)
        }
        guard Self.appendStrings(rooms, to: &bytes), Self.appendStrings(exceptRooms, to: &bytes),
              Self.appendString(exceptSocket ?? "", to: &bytes) else { return nil }
        switch operation {
        case .emit(let envelope): bytes.append(contentsOf: envelope)
        case .join(let names), .leave(let names): guard Self.appendStrings(names, to: &bytes) else { return nil }
        case .disconnect: break
        }
        return bytes
    }

    /// Whether `bytes` was published by node `id`: checked before decoding anything else, so a
    /// node skips its own messages at the cost of 16 byte compares.
    static func isFrom(_ id: [UInt8], _ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 2 + nodeIDLength else { return false }
        return bytes[2..<(2 + nodeIDLength)].elementsEqual(id)
    }

    /// Reads a message.
    /// - Throws: ``DecodingError``.
    package init(decoding bytes: [UInt8]) throws {
        var reader = Reader(bytes: bytes)
        let version = try reader.byte()
        guard version == Self.version else { throw DecodingError.unsupportedVersion(version) }
        isVolatile = try reader.byte() & 1 != 0
        origin = try reader.take(Self.nodeIDLength)
        let kind = try reader.byte()
        guard kind <= 3 else { throw DecodingError.unknownOperation(kind) }
        rooms = try reader.strings()
        exceptRooms = try reader.strings()
        let socket = try reader.string()
        exceptSocket = socket.isEmpty ? nil : socket
        switch kind {
        case 0: operation = .emit(envelope: Array(bytes[reader.offset...]))
        case 1: operation = .join(try reader.strings())
        case 2: operation = .leave(try reader.strings())
        default: operation = .disconnect
        }
    }

    private static func appendUInt16(_ value: Int, to bytes: inout [UInt8]) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xFF))
    }

    private static func appendString(_ text: String, to bytes: inout [UInt8]) -> Bool {
        let utf8 = text.utf8
        guard utf8.count <= 0xFFFF else { return false }
        appendUInt16(utf8.count, to: &bytes)
        bytes.append(contentsOf: utf8)
        return true
    }

    private static func appendStrings(_ list: [String], to bytes: inout [UInt8]) -> Bool {
        guard list.count <= 0xFFFF else { return false }
        appendUInt16(list.count, to: &bytes)
        return list.allSatisfy { appendString($0, to: &bytes) }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func byte() throws -> UInt8 {
            guard offset < bytes.count else { throw DecodingError.truncated }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func take(_ count: Int) throws -> [UInt8] {
            guard bytes.count - offset >= count else { throw DecodingError.truncated }
            defer { offset += count }
            return Array(bytes[offset..<(offset + count)])
        }

        mutating func uint16() throws -> Int {
            Int(try byte()) << 8 | Int(try byte())
        }

        mutating func string() throws -> String {
            let length = try uint16()
            guard bytes.count - offset >= length else { throw DecodingError.truncated }
            defer { offset += length }
            return String(decoding: bytes[offset..<(offset + length)], as: UTF8.self)
        }

        mutating func strings() throws -> [String] {
            let count = try uint16()
            var list: [String] = []
            for _ in 0..<count { list.append(try string()) }
            return list
        }
    }
}
