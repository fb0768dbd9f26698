import CParleySystem

extension Poller {
    /// Linux epoll, level-triggered: registrations live in the kernel, and a wait costs the
    /// same however many descriptors are registered.
    package struct Epoll {
        let fd: Int32

        init() throws(Errno) {
            fd = cps_epoll_create()
            guard fd >= 0 else { throw Errno(errno) }
        }

        @inline(__always)
        func register(_ descriptor: Int32, interest: IOEvents, token: UInt64, exclusive: Bool) -> Int32 {
            let bits = interest.rawValue | (exclusive ? CPS_IO_EXCLUSIVE : 0)
            return cps_epoll_ctl(fd, 0, descriptor, bits, token) == 0 ? 0 : errno
        }

        @inline(__always)
        func modify(_ descriptor: Int32, interest: IOEvents, token: UInt64) {
            _ = cps_epoll_ctl(fd, 1, descriptor, interest.rawValue, token)
        }

        @inline(__always)
        func deregister(_ descriptor: Int32) {
            _ = cps_epoll_ctl(fd, 2, descriptor, 0, 0)
        }

        @inline(__always)
        func wait(into events: UnsafeMutablePointer<cps_event>, capacity: Int, timeoutMilliseconds: Int32) -> Int32 {
            cps_epoll_wait(fd, events, Int32(min(capacity, Poller.maxEvents)), timeoutMilliseconds)
        }

        func close() {
            _ = ParleyIO.closeDescriptor(fd)
        }
    }
}
