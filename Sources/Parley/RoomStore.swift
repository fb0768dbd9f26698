import ParleyWebSocket
import Synchronization

/// The rooms of one namespace on this server: rooms -> sockets and sockets -> rooms, as
/// Socket.IO's in-memory adapter keeps them. Thread-safe. Rooms are always local: a cluster
/// adapter (``ClusterAdapter``) relays operations between nodes, and each node selects its own
/// sockets here.
///
/// Every socket is also in the room named by its id; that room is implied rather than stored
/// (two sets per socket saved), and lookups treat a room name that is a socket id as that socket.
final class RoomStore: Sendable {
    private struct State {
        var sockets: [String: Socket] = [:]
        var rooms: [String: Set<String>] = [:]
        var roomsOfSocket: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())

    /// Adds a connected socket; it joins the room named by its id, as in Socket.IO.
    func add(_ socket: Socket) {
        state.withLock { state in
            state.sockets[socket.id] = socket
        }
    }

    /// Removes a socket from the namespace and every room, unless another socket has its id
    /// by now (a recovered session's new socket).
    func remove(_ socket: Socket) {
        let id = socket.id
        state.withLock { state in
            guard state.sockets[id] === socket else { return }
            state.sockets[id] = nil
            for room in state.roomsOfSocket.removeValue(forKey: id) ?? [] {
                state.rooms[room]?.remove(id)
                if state.rooms[room]?.isEmpty == true { state.rooms[room] = nil }
            }
        }
    }

    func join(_ id: String, _ rooms: some Sequence<String>) {
        state.withLock { state in
            guard state.sockets[id] != nil else { return }
            for room in rooms where room != id {
                state.rooms[room, default: []].insert(id)
                state.roomsOfSocket[id, default: []].insert(room)
            }
        }
    }

    func leave(_ id: String, _ room: String) {
        state.withLock { state in
            state.rooms[room]?.remove(id)
            if state.rooms[room]?.isEmpty == true { state.rooms[room] = nil }
            state.roomsOfSocket[id]?.remove(room)
        }
    }

    func rooms(of id: String) -> Set<String> {
        state.withLock { state in
            guard state.sockets[id] != nil else { return [] }
            return (state.roomsOfSocket[id] ?? []).union([id])
        }
    }

    var count: Int { state.withLock { $0.sockets.count } }

    /// The rooms with their member counts (a socket's own-id room is implied, so not listed).
    var roomSizes: [String: Int] { state.withLock { $0.rooms.mapValues(\.count) } }

    /// The sockets `selection` picks: those in any of its rooms (every socket when it has none),
    /// minus those in any of its except rooms and minus its excluded socket.
    func sockets(_ selection: BroadcastSelection) -> [Socket] {
        let (rooms, except, exceptSocket) = (selection.rooms, selection.exceptRooms, selection.exceptSocket)
        return state.withLock { state in
            // The common cases without hashing every id: everyone, or everyone but the sender.
            if rooms.isEmpty && except.isEmpty {
                guard let exceptSocket else { return Array(state.sockets.values) }
                return state.sockets.values.filter { $0.id != exceptSocket }
            }
            // One room (a chat room, a socket id), no except rooms: one lookup per member.
            if rooms.count == 1, except.isEmpty, let room = rooms.first {
                var selected: [Socket] = []
                // The socket named by the room (its own-id room is implied, never stored, so it
                // is not also among the members below).
                if let socket = state.sockets[room], socket.id != exceptSocket { selected.append(socket) }
                guard let members = state.rooms[room] else { return selected }
                selected.reserveCapacity(selected.count + members.count)
                for id in members where id != exceptSocket {
                    if let socket = state.sockets[id] { selected.append(socket) }
                }
                return selected
            }
            var excluded: Set<String> = []
            for room in except {
                excluded.formUnion(state.rooms[room] ?? [])
                if state.sockets[room] != nil { excluded.insert(room) }
            }
            if let exceptSocket { excluded.insert(exceptSocket) }
            if rooms.isEmpty {
                return state.sockets.values.filter { !excluded.contains($0.id) }
            }
            var ids: Set<String> = []
            for room in rooms {
                ids.formUnion(state.rooms[room] ?? [])
                if state.sockets[room] != nil { ids.insert(room) }
            }
            return ids.subtracting(excluded).compactMap { state.sockets[$0] }
        }
    }
}
