import Synchronization

/// The event names, ids and once-flags of a socket's `on` handlers in registration order,
/// shared by every socket that registers the same handlers in the same order: the sockets of a
/// namespace whose connection handler registers them (`io.onConnection { socket in
/// socket.on(...) }`). Each socket then keeps only its closures (``SocketHandlers``).
///
/// Layouts form a tree from a namespace's empty root: appending an entry to a layout gives the
/// same child layout to every socket. The tree is bounded: layouts of at most
/// ``maxSharedEntries`` entries, at most ``maxChildren`` children each; beyond, a socket keeps
/// a list of its own.
final class HandlerLayout: Sendable {
    struct Entry: Hashable, Sendable {
        let event: String
        /// The low 32 bits of the id `on` returned (a socket never registers 2^32 handlers).
        let id: Int32
        let once: Bool
    }

    let entries: [Entry]
    private let children = Mutex<[Entry: HandlerLayout]>([:])

    /// Longest shared layout: 32 handlers, more than a socket usually has.
    static let maxSharedEntries = 32
    /// Most distinct layouts that continue one layout: 16 (sockets of a namespace differ in a
    /// few optional handlers at most; names made per socket would otherwise grow the tree).
    static let maxChildren = 16

    init(entries: [Entry] = []) {
        self.entries = entries
    }

    /// This layout followed by `entry`, shared; nil when the tree has no room for it.
    func appending(_ entry: Entry) -> HandlerLayout? {
        guard entries.count < Self.maxSharedEntries else { return nil }
        return children.withLock { children in
            if let child = children[entry] { return child }
            guard children.count < Self.maxChildren else { return nil }
            let child = HandlerLayout(entries: entries + [entry])
            children[entry] = child
            return child
        }
    }
}

/// A socket's `on` handlers: their names (a shared ``HandlerLayout``, or a list of the socket's
/// own once it removed one or left the shared tree) and their closures, index for index.
struct SocketHandlers {
    private enum Names {
        case shared(HandlerLayout)
        case own([HandlerLayout.Entry])
    }

    private var names: Names
    private(set) var callbacks: [Socket.Callback] = []

    /// - Parameter root: the empty layout of the socket's namespace.
    init(root: HandlerLayout) {
        names = .shared(root)
    }

    var entries: [HandlerLayout.Entry] {
        switch names {
        case .shared(let layout): return layout.entries
        case .own(let entries): return entries
        }
    }

    mutating func append(_ entry: HandlerLayout.Entry, _ callback: Socket.Callback) {
        switch names {
        case .shared(let layout):
            names = layout.appending(entry).map(Names.shared) ?? .own(layout.entries + [entry])
        case .own(var entries):
            names = .own([])  // the list is uniquely referenced while it grows
            entries.append(entry)
            names = .own(entries)
        }
        callbacks.append(callback)
    }

    /// Removes the handlers `predicate` picks (the socket leaves the shared layout).
    mutating func removeAll(where predicate: (HandlerLayout.Entry) -> Bool) {
        let current = entries
        guard current.contains(where: predicate) else { return }
        var keptEntries: [HandlerLayout.Entry] = []
        var keptCallbacks: [Socket.Callback] = []
        for (entry, callback) in zip(current, callbacks) where !predicate(entry) {
            keptEntries.append(entry)
            keptCallbacks.append(callback)
        }
        names = .own(keptEntries)
        callbacks = keptCallbacks
    }

    /// Drops every handler.
    mutating func removeAll() {
        names = .own([])
        callbacks = []
    }

    /// Gives back the closures' spare capacity (once the connection handlers have run).
    mutating func compact() {
        guard callbacks.capacity > callbacks.count else { return }
        var compact: [Socket.Callback] = []
        compact.reserveCapacity(callbacks.count)
        compact.append(contentsOf: callbacks)
        callbacks = compact
    }
}
