import Foundation
import ParleyWebSocket

extension Server {
    /// Starts the server and serves until ``close(gracePeriod:)`` is called or the task is
    /// cancelled, then returns.
    ///
    /// Cancelling the task closes the server gracefully: it stops accepting, every client gets
    /// close 1001 "server shutting down" (the disconnect reason its handlers see), and `run()` returns once they are
    /// gone or the default grace period (5 s) has passed. Starting (the bind, and with a Redis
    /// adapter the connection to Redis, up to 5 s) happens on a thread of its own, so no
    /// concurrency thread is held while it blocks.
    ///
    /// ```swift
    /// let serving = Task { try await io.run() }
    /// // ...
    /// serving.cancel()            // graceful close
    /// try await serving.value     // returns once the clients are gone
    /// ```
    /// - Throws: what ``start()`` throws; nothing once the server is listening.
    public func run() async throws {
        _ = try await startOnOwnThread()
        // Cancelled already (while starting): the handler runs at once, so the server that has
        // just started is closed again.
        await withTaskCancellationHandler {
            await waitUntilClosed()
        } onCancel: {
            Task { await self.close() }
        }
    }

    /// ``start()`` on a new thread: a blocking bind or Redis connect never holds one of the
    /// few threads Swift concurrency runs tasks on.
    func startOnOwnThread() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try self.start() }) }
        }
    }

    /// Returns once ``close(gracePeriod:)`` has finished (at once if it already has).
    func waitUntilClosed() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = stopped.withLock { state -> Bool in
                if !state.done { state.waiters.append(continuation) }
                return state.done
            }
            if done { continuation.resume() }
        }
    }

    /// The one line a server writes when it listens: `parley: listening on ws://127.0.0.1:8887/parley`.
    func logListening(port: Int) {
        let configuration = router.configuration
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        configuration.logger.info("parley: listening on \(configuration.tls == nil ? "ws" : "wss")://\(host):\(port)\(configuration.path)")
    }
}
