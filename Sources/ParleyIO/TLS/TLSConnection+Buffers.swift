import CParleySystem
import CParleyTLS

/// OpenSSL's read and write buffers (16-17 KiB each) of a connection: released whenever no record
/// waits in them (`SSL_MODE_RELEASE_BUFFERS`), so that an idle connection holds none, and kept
/// while the connection is busy, so that each record does not pay an allocation and a release.
///
/// A connection that makes ``busyCalls`` reads and writes keeps its buffers from then on; every
/// ``idleCheckInterval`` (1 s) its loop checks it, and a connection that made fewer calls in the last
/// interval releases them again. Only on an event loop thread (the check is a loop timer):
/// elsewhere buffers are released per record.
extension TLSConnection {
    /// Reads and writes that make a connection busy, and that keep it busy per
    /// ``idleCheckInterval``. 16: eight echoed messages a second; below that rate the
    /// allocations per record cost little and the 33 KiB per connection are better released.
    static let busyCalls: UInt32 = 16
    /// How often a busy connection is checked for idleness (``idleCheckInterval``). 1 s: a
    /// connection that stops holds its buffers for at most two seconds.
    static let defaultIdleCheckInterval: Duration = .seconds(1)

    /// Counts a read or a write; the connection keeps its buffers once it is busy.
    @inline(__always)
    func countCall() {
        ioCalls &+= 1
        if ioCalls == busyAt { becomeBusy() }
    }

    /// Keeps the buffers and starts the idle check, on the loop this thread runs.
    private func becomeBusy() {
        guard case .established = phase, idleCheck == nil, let current = cps_current_loop() else { return }
        guard cpt_session_keep_buffers(session, 1) == 1 else { return }
        let loop = Unmanaged<EventLoop>.fromOpaque(current).takeUnretainedValue()
        checkLoop = loop
        callsAtCheck = ioCalls
        busyAt = ioCalls &- 1  // reached again only after 2^32 calls
        idleCheck = loop.schedule(after: idleCheckInterval) { [self] in checkIdle() }
    }

    /// The loop's periodic check: still busy, or back to releasing the buffers.
    private func checkIdle() {
        idleCheck = nil
        let calls = ioCalls &- callsAtCheck
        callsAtCheck = ioCalls
        if calls >= Self.busyCalls, case .established = phase, let loop = checkLoop {
            idleCheck = loop.schedule(after: idleCheckInterval) { [self] in checkIdle() }
            return
        }
        _ = cpt_session_keep_buffers(session, 0)
        busyAt = ioCalls &+ Self.busyCalls
    }

    /// Stops the idle check (the connection is closing; call on its loop). The buffers go with
    /// the connection.
    func stopIdleCheck() {
        guard let timer = idleCheck, let loop = checkLoop else { return }
        loop.cancel(timer)
        idleCheck = nil
    }

    /// Whether the connection keeps its buffers now (it is busy).
    package var keepsBuffers: Bool { idleCheck != nil }
}
