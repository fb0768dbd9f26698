import Synchronization

/// A task scheduled with ``EventLoop/execute(after:_:)``, for cancelling it from any thread.
///
/// A cancelled task never runs, and the loop lets go of it (and of everything it captured) at
/// once rather than at its deadline: a timeout that is not needed any more (the answer came)
/// costs nothing until then.
public final class Scheduled: Sendable {
    private let loop: EventLoop
    /// `timer` is set on the loop when the task is armed; `done` once it ran or was cancelled.
    private let state = Mutex<(done: Bool, timer: TimerID?)>((false, nil))

    package init(loop: EventLoop) {
        self.loop = loop
    }

    /// Stops the task if it has not run yet; later calls, and calls after it ran, do nothing.
    public func cancel() {
        let timer: TimerID? = state.withLock { state in
            guard !state.done else { return nil }
            state.done = true
            defer { state.timer = nil }
            return state.timer
        }
        // Not armed yet: `arm` sees `done` and schedules nothing.
        guard let timer else { return }
        if loop.inEventLoop {
            loop.cancel(timer)
        } else {
            loop.execute { [loop] in loop.cancel(timer) }
        }
    }

    /// Schedules `task` on the loop (called on the loop thread), unless already cancelled.
    package func arm(after delay: Duration, _ task: @escaping @Sendable () -> Void) {
        state.withLock { state in
            guard !state.done else { return }
            state.timer = loop.schedule(after: delay) { [self] in
                // A cancel from another thread may be on its way: whoever sets `done` first wins.
                let run = self.state.withLock { state in
                    defer { state.done = true; state.timer = nil }
                    return !state.done
                }
                if run { task() }
            }
        }
    }
}
