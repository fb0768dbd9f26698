import Parley

/// One ``ClusterOperation`` as nodes exchange it over Redis, with the id of the node that
/// published it. An emit carries the envelope exactly as the emitting node encoded it, so
/// receivers write those bytes without parsing `data`. The namespace is not in the message:
/// the channel names it. Pure: no I/O. The layout is documented in Protocol.md, "Scale-out over
/// Redis":
///
/// ```
/// u8   version (1)
/// u8   flags (bit 0: volatile; bit 1: an emit's data is its argument list; the others are 0)
/// 16 B origin node id
/// u8   operation: 0 emit, 1 join rooms, 2 leave rooms, 3 disconnect
/// u16  room count, then per room: u16 length, UTF-8 name
/// u16  except-room count, then per room: u16 length, UTF-8 name
/// u16  except-socket id length (0: none), then the id
/// emit: the envelope (the text frame's payload), to the end
/// join, leave: u16 room count, then per room: u16 length, UTF-8 name
/// disconnect: nothing
/// ```
/// Integers are big-endian. Room names of a set are written sorted, so that one operation
/// always has the same bytes.
package struct ClusterMessage: Equatable, Sendable {
    /// Errors reading a message published by another node.
    enum DecodingError: Error, Equatable {
        case truncated
        case unsupportedVersion(UInt8)
        case unknownOperation(UInt8)
    }

    static let version: UInt8 = 1
    static let nodeIDLength = 16

    /// The id of the node that published it.
    var origin: [UInt8]
    var operation: ClusterOperation

    init(origin: [UInt8], operation: ClusterOperation) {
        self.origin = origin
        self.operation = operation
    }

    /// The message's bytes; names longer than 65,535 bytes or more than 65,535 rooms (never
    /// produced by sockets) make it nil.
    package func encoded() -> [UInt8]? {
        precondition(origin.count == Self.nodeIDLength)
        let selection = operation.selection
        var bytes: [UInt8] = []
        let names = selection.rooms.reduce(0) { $0 + $1.utf8.count + 2 } + selection.exceptRooms.reduce(0) { $0 + $1.utf8.count + 2 }
        if case .emit(let envelope) = operation.action {
            bytes.reserveCapacity(32 + names + (selection.exceptSocket?.utf8.count ?? 0) + envelope.bytes.count)
        }
        bytes.append(Self.version)
        var flags: UInt8 = operation.flags.contains(.volatile) ? 1 : 0
        if case .emit(let envelope) = operation.action, envelope.spreadsArguments { flags |= 2 }
        bytes.append(flags)
        bytes.append(contentsOf: origin)
        switch operation.action {
        case .emit: bytes.append(0)
        case .socketsJoin: bytes.append(1)
        case .socketsLeave: bytes.append(2)
        case .disconnectSockets: bytes.append(3)
        }
        guard Self.appendStrings(selection.rooms, to: &bytes), Self.appendStrings(selection.exceptRooms, to: &bytes),
              Self.appendString(selection.exceptSocket ?? "", to: &bytes) else { return nil }
        switch operation.action {
        case .emit(let envelope): bytes.append(contentsOf: envelope.bytes)
        case .socketsJoin(let names), .socketsLeave(let names): guard Self.appendStrings(names, to: &bytes) else { return nil }
        case .disconnectSockets: break
        }
        return bytes
    }

    /// Whether `bytes` was published by node `id`: checked before decoding anything else, so a
    /// node skips its own messages at the cost of 16 byte compares.
    static func isFrom(_ id: [UInt8], _ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 2 + nodeIDLength else { return false }
        return bytes[2..<(2 + nodeIDLength)].elementsEqual(id)
    }

    /// Reads a message received on the channel of `namespace`.
    /// - Throws: ``DecodingError``.
    package init(decoding bytes: [UInt8], namespace: String) throws {
        var reader = Reader(bytes: bytes)
        let version = try reader.byte()
        guard version == Self.version else { throw DecodingError.unsupportedVersion(version) }
        let flagBits = try reader.byte()
        let flags: BroadcastFlags = flagBits & 1 != 0 ? .volatile : []
        origin = try reader.take(Self.nodeIDLength)
        let kind = try reader.byte()
        guard kind <= 3 else { throw DecodingError.unknownOperation(kind) }
        let rooms = Set(try reader.strings())
        let exceptRooms = Set(try reader.strings())
        let socket = try reader.string()
        let selection = BroadcastSelection(namespace: namespace, rooms: rooms, exceptRooms: exceptRooms,
                                           exceptSocket: socket.isEmpty ? nil : socket)
        let action: ClusterOperation.Action
        switch kind {
        case 0: action = .emit(EncodedEnvelope(unchecked: Array(bytes[reader.offset...]), spreadsArguments: flagBits & 2 != 0))
        case 1: action = .socketsJoin(try reader.strings())
        case 2: action = .socketsLeave(try reader.strings())
        default: action = .disconnectSockets
        }
        operation = ClusterOperation(selection: selection, flags: flags, action: action)
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

    /// A set's names, sorted when there are several (none or one: nothing to sort, no copy).
    private static func appendStrings(_ set: Set<String>, to bytes: inout [UInt8]) -> Bool {
        guard set.count > 1 else {
            appendUInt16(set.count, to: &bytes)
            return set.allSatisfy { appendString($0, to: &bytes) }
        }
        return appendStrings(set.sorted(), to: &bytes)
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
