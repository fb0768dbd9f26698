import ParleyIO
import CParleySystem
import Glibc

/// Accepts connections on one loop. Every loop registers the same listening socket with
/// EPOLLEXCLUSIVE, so the kernel wakes one loop per connection and each connection stays on
/// the loop that accepted it.
final class Acceptor: Selectable {
    let listenFD: Int32
    unowned let loop: EventLoop
    let context: WebSocketServer.Context
    /// This loop's counters, handed to every connection accepted here.
    let counters: ConnectionCounters
    private var paused = false

    /// A pause after EMFILE/ENFILE: long enough not to spin a core, short enough that a freed
    /// descriptor is used quickly.
    static let descriptorPause: Duration = .milliseconds(100)

    init(listenFD: Int32, loop: EventLoop, context: WebSocketServer.Context, counters: ConnectionCounters) {
        self.counters = counters
        self.listenFD = listenFD
        self.loop = loop
        self.context = context
    }

    func register() {
        guard context.accepting.load(ordering: .acquiring) else { return }
        _ = loop.register(listenFD, events: CPS_EPOLLIN | CPS_EPOLLEXCLUSIVE, handler: self)
    }

    func deregister() {
        loop.deregister(listenFD)
    }

    package func handleEvents(_ events: UInt32) {
        // Up to 64 per wake-up, then let the loop serve its connections.
        for _ in 0..<64 {
            let fd = cps_accept(listenFD, nil, nil)
            if fd >= 0 {
                SystemSocket.setNoDelay(fd)
                UpgradeHandler(fd: fd, loop: loop, context: context, counters: counters).start()
                continue
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK: return
            case EINTR, ECONNABORTED, EPROTO: continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                pauseAccepting(errno: errno)
                return
            default:
                return
            }
        }
    }

    /// Out of descriptors: stop watching the listener (level-triggered epoll would report it
    /// again at once and spin), and look again shortly. Logged at most once a minute.
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
