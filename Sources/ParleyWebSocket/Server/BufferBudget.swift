import Foundation
import Synchronization

/// The server-wide account of peer data its connections hold: parser carries (bytes of a frame
/// not complete yet), fragments of a message being assembled, and send queues. Every
/// connection of one ``WebSocketServer`` charges the same account; once it goes over
/// ``limit``, the connections holding the most are failed with close 1013 ("Try Again Later")
/// and their buffers freed, until the account is back under the limit. The others keep being
/// served.
///
/// Cheap on the hot path: a connection counts its first ``allowance`` bytes against nothing and
/// charges the rest in steps of ``granule`` bytes, so ordinary traffic (messages read whole and
/// written at once) never touches the shared account; a connection holding more charges it once
/// per granule crossed, with one atomic add (and a short lock to keep the list of holders).
///
/// What it bounds, with `C` connections: peer data held ≤ ``limit`` + `C` × ``allowance`` +
/// what the connections add between the charge that crosses the limit and the closes, which run
/// on each connection's own loop at its next turn (at most one read per loop and one handler's
/// sends). A frame shared by a broadcast is charged to every connection that queues it: an
/// upper bound of the memory, since the bytes exist once.
final class BufferBudget: Sendable {
    /// Bytes a connection holds without charging the account. 16 KiB: more than a typical
    /// message, so that a connection reading and writing small messages never charges it.
    static let allowance = 16 * 1024
    /// Bytes charged at a time above the allowance: 16 KiB, a quarter of a read.
    static let granule = 16 * 1024

    /// The default limit: a quarter of physical memory, at most 1 GiB, at least 64 MiB. A
    /// quarter leaves the rest to the process's other state and the system; 1 GiB is far more
    /// than normal traffic holds (10,000 clients at 100 KiB behind each), so on a large machine
    /// it closes attackers and stalled peers, not busy ones; 64 MiB keeps a small container
    /// usable.
    static var defaultLimit: Int {
        let quarter = Int(clamping: ProcessInfo.processInfo.physicalMemory / 4)
        return max(64 << 20, min(1 << 30, quarter))
    }

    /// The most bytes the connections may hold together (as charged).
    let limit: Int
    private let used = Atomic<Int>(0)
    private let closes = Atomic<Int>(0)
    private let holders = Mutex(Holders())

    /// The connections with a charge, and the charges of those asked to shed theirs.
    private struct Holders {
        var byConnection: [ObjectIdentifier: Holder] = [:]
        /// What the holders asked to shed still hold: it goes back to the account soon.
        var pendingShed = 0
    }

    private struct Holder {
        let socket: WebSocket
        var charge: Int
        /// Asked to shed its buffers (its charge counts in ``Holders/pendingShed``).
        var shedding = false
    }

    init(limit: Int) {
        self.limit = limit
    }

    /// Bytes charged now.
    var usedBytes: Int { used.load(ordering: .relaxed) }

    /// Connections failed to bring the account back under the limit.
    var closeCount: Int { closes.load(ordering: .relaxed) }

    /// What a connection holding `held` bytes is charged: the bytes over the allowance, rounded
    /// up to a granule.
    @inline(__always)
    static func charge(forHeld held: Int) -> Int {
        guard held > allowance else { return 0 }
        return (held - allowance + granule - 1) / granule * granule
    }

    /// Moves `socket`'s charge from `old` to `new` bytes; when the account goes over the limit,
    /// asks the largest holders to shed their buffers (on their loops).
    func recharge(_ socket: WebSocket, from old: Int, to new: Int) {
        let total = used.add(new - old, ordering: .relaxed).newValue
        let victims = holders.withLock { state -> [WebSocket] in
            let key = ObjectIdentifier(socket)
            if let holder = state.byConnection[key] {
                if holder.shedding { state.pendingShed += new - holder.charge }
                if new == 0 {
                    state.byConnection[key] = nil
                } else {
                    state.byConnection[key]?.charge = new
                }
            } else if new > 0 {
                state.byConnection[key] = Holder(socket: socket, charge: new)
            }
            guard new > old else { return [] }
            return Self.selectVictims(&state, excess: total - limit)
        }
        for victim in victims {
            closes.add(1, ordering: .relaxed)
            victim.loop.execute { victim.shedBuffers() }
        }
    }

    /// The largest holders not asked yet, until their charges cover `excess` less what holders
    /// asked before will give back.
    private static func selectVictims(_ state: inout Holders, excess: Int) -> [WebSocket] {
        var remaining = excess - state.pendingShed
        guard remaining > 0 else { return [] }
        let candidates = state.byConnection.filter { !$0.value.shedding }.sorted { $0.value.charge > $1.value.charge }
        var victims: [WebSocket] = []
        for (key, holder) in candidates {
            guard remaining > 0 else { break }
            state.byConnection[key]?.shedding = true
            state.pendingShed += holder.charge
            remaining -= holder.charge
            victims.append(holder.socket)
        }
        return victims
    }
}
