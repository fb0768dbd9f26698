import Foundation
#if canImport(Glibc)
#elseif canImport(Darwin)
import Darwin
#endif

/// The signals that stop a server (SIGINT, SIGTERM), and optionally SIGHUP for a reload,
/// taken synchronously by one waiting thread with `sigwait` instead of asynchronous handlers.
///
/// Create it first thing in `main`, before any thread starts: it blocks the signals in the
/// calling thread, and every thread started afterwards (event loops included) inherits the
/// mask, so the signals reach only the thread that waits for them. No Dispatch source is
/// involved: it would open descriptors lazily, and fail when clients hold them all.
///
/// ```swift
/// let signals = ProcessSignals(onHangUp: { reloadCertificates() })
/// let io = Server(configuration)
/// try io.start()
/// signals.waitThenStop { await io.close(gracePeriod: .seconds(2)) }   // Ctrl-C: clients get 1001
/// ```
///
/// With ``Server/run()``-style tasks that stop when cancelled:
///
/// ```swift
/// let serving = Task { try await io.run() }
/// await signals.wait()
/// serving.cancel()
/// try await serving.value
/// ```
public struct ProcessSignals: Sendable {
    /// SIGINT and SIGTERM, and SIGHUP when a hang-up handler is given.
    private let signals: [Int32]
    private let onHangUp: (@Sendable () -> Void)?

    /// Blocks SIGINT and SIGTERM (and SIGHUP, when `onHangUp` is given) in the calling thread
    /// and in the threads it starts from now on.
    /// - Parameter onHangUp: called on the waiting thread for each SIGHUP (reload a certificate,
    ///   reopen a log). Nil by default: SIGHUP keeps its default action (end the process), as
    ///   for any program that does not handle it.
    public init(onHangUp: (@Sendable () -> Void)? = nil) {
        self.onHangUp = onHangUp
        signals = onHangUp == nil ? [SIGINT, SIGTERM] : [SIGINT, SIGTERM, SIGHUP]
        var set = Self.set(of: signals)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Blocks the calling thread until SIGINT or SIGTERM arrives, calling the hang-up handler
    /// for each SIGHUP meanwhile.
    /// - Returns: the signal that arrived, `SIGINT` or `SIGTERM`.
    @discardableResult
    public func waitSynchronously() -> Int32 {
        var set = Self.set(of: signals)
        while true {
            var received: Int32 = 0
            guard sigwait(&set, &received) == 0 else { continue }
            if received == SIGHUP, let onHangUp {
                onHangUp()
                continue
            }
            return received
        }
    }

    /// Waits, without holding a concurrency thread, until SIGINT or SIGTERM arrives: the
    /// `sigwait` runs on a thread of its own, which ends with it.
    /// - Returns: the signal that arrived, `SIGINT` or `SIGTERM`.
    @discardableResult
    public func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: waitSynchronously()) }
        }
    }

    /// Blocks the calling thread (the main thread of a command-line server) until SIGINT or
    /// SIGTERM, then runs `stop` (a graceful close) and returns once it has finished.
    /// - Parameter stop: closes the server, e.g. `{ await io.close(gracePeriod: .seconds(2)) }`.
    public func waitThenStop(_ stop: @escaping @Sendable () async -> Void) {
        waitSynchronously()
        let stopped = DispatchSemaphore(value: 0)
        Task.detached {
            await stop()
            stopped.signal()
        }
        stopped.wait()
    }

    private static func set(of signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }
}
