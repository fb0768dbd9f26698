@_spi(IO) import ParleyIO

/// Accepts connections on one loop.
///
/// With epoll every loop has an acceptor on the same listening socket, registered for
/// exclusive wake-ups: the kernel wakes one loop per connection, and each connection stays on
/// the loop that accepted it. With poll (no exclusive wake-ups: every loop would wake for every
/// connection) one acceptor accepts for all the loops and hands each connection to the next
/// one in turn (``targets``).
final class Acceptor: Selectable {
    let listenFD: Int32
    unowned let loop: EventLoop
    let context: WebSocketServer.Context
    /// The loops connections are handed to in turn, each with its counters; `[loop]` when every
    /// loop accepts for itself.
    private let targets: [(loop: EventLoop, counters: ConnectionCounters)]
    private var nextTarget = 0
    private var paused = false

    /// A pause after EMFILE/ENFILE: long enough not to spin a core, short enough that a freed
    /// descriptor is used quickly.
    static let descriptorPause: Duration = .milliseconds(100)

    /// - Parameter targets: the loops accepted connections go to, with their counters.
    init(listenFD: Int32, loop: EventLoop, targets: [(loop: EventLoop, counters: ConnectionCounters)], context: WebSocketServer.Context) {
        self.listenFD = listenFD
        self.loop = loop
        self.targets = targets
        self.context = context
    }

    func register() {
        guard context.accepting.load(ordering: .acquiring) else { return }
        _ = loop.register(listenFD, interest: .read, exclusive: targets.count == 1, handler: self)
    }

    func deregister() {
        loop.deregister(listenFD)
    }

    package func handleEvents(_ events: IOEvents) {
        // Up to 64 per wake-up, then let the loop serve its connections.
        for _ in 0..<64 {
            switch SystemSocket.accept(listenFD, portable: loop.backend == .poll) {
            case .success(let fd):
                SystemSocket.setNoDelay(fd)
                hand(fd)
            case .failure(let error):
                switch error.code {
                case EAGAIN, EWOULDBLOCK: return
                case EINTR, ECONNABORTED, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    pauseAccepting(errno: error.code)
                    return
                default:
                    return
                }
            }
        }
    }

    /// Starts the handshake of an accepted connection on this loop, or on the next target.
    private func hand(_ fd: Int32) {
        // Over a handshake cap: answered 503 and closed, nothing read.
        guard let host = context.beginHandshake(fd) else { return }
        let (target, counters) = targets[nextTarget]
        nextTarget = nextTarget + 1 == targets.count ? 0 : nextTarget + 1
        if target === loop {
            let handler = UpgradeHandler(fd: fd, loop: loop, context: context, counters: counters, clientKey: host)
            handler.start()
            return
        }
        let context = self.context
        target.execute {
            // The server stopped meanwhile: its shutdown has dropped (or is about to drop) the
            // handshakes on that loop, so this one is not started.
            guard context.accepting.load(ordering: .acquiring) else {
                context.endHandshake(host: host)
                closeDescriptor(fd)
                return
            }
            let handler = UpgradeHandler(fd: fd, loop: target, context: context, counters: counters, clientKey: host)
            handler.start()
        }
    }

    /// Out of descriptors: stop watching the listener (a level-triggered poller would report
    /// it again at once and spin), and look again shortly. Logged at most once a minute.
    private func pauseAccepting(errno code: Int32) {
        guard !paused else { return }
        paused = true
        context.descriptorPauses.add(1, ordering: .relaxed)
        loop.deregister(listenFD)
        let now = monotonicNanoseconds()
        let last = context.lastDescriptorWarning.load(ordering: .relaxed)
        if last == 0 || now - last > 60_000_000_000 {
            context.lastDescriptorWarning.store(now, ordering: .relaxed)
            context.configuration.logger.warning("parley: accept failed (\(String(cString: strerror(code)))); pausing accepts until descriptors free up")
        }
        loop.schedule(after: Self.descriptorPause) { [self] in
            paused = false
            register()
        }
    }
}
