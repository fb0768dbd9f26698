import CParleySystem

/// How another thread wakes a loop blocked in its poller: an eventfd with epoll on Linux, a
/// non-blocking self-pipe with poll (on every system, so that Linux runs what macOS runs).
/// Signalling is coalesced by the loop (one signal per burst of hand-offs).
struct Wakeup {
    /// Registered for reading on the loop's poller.
    let readFD: Int32
    /// Written by ``signal()``; the same descriptor as ``readFD`` for an eventfd.
    let writeFD: Int32

    /// - Parameter portable: a pipe even where an eventfd exists.
    /// - Throws: ``Errno`` when the system refuses (out of descriptors).
    init(portable: Bool) throws(Errno) {
        var fds: (Int32, Int32) = (-1, -1)
        let status = withUnsafeMutableBytes(of: &fds) {
            cps_wakeup_open(portable ? 1 : 0, $0.baseAddress!.assumingMemoryBound(to: Int32.self))
        }
        guard status == 0 else { throw Errno(errno) }
        (readFD, writeFD) = fds
    }

    /// Makes ``readFD`` readable. Thread-safe.
    func signal() { cps_wakeup_signal(writeFD) }

    /// Empties ``readFD``. On the loop thread, when the poller reported it.
    func drain() { cps_wakeup_drain(readFD) }

    /// Closes the descriptors.
    func close() {
        _ = closeDescriptor(readFD)
        if writeFD != readFD { _ = closeDescriptor(writeFD) }
    }
}
