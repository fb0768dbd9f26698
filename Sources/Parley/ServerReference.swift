import Synchronization

/// A weak reference to a ``Server`` for what its own configuration holds (routes, the admin
/// dashboard): a strong one would make a cycle through the configuration the server owns.
final class ServerReference: Sendable {
    private struct Reference {
        weak var server: Server?
    }

    private let reference = Mutex(Reference())

    /// The server, while it exists; nil before ``set(_:)``.
    var server: Server? { reference.withLock { $0.server } }

    func set(_ server: Server) {
        reference.withLock { $0.server = server }
    }
}
