import Foundation
import Glibc
import Synchronization

/// A TCP proxy on 127.0.0.1 that forwards every connection to a target port and can cut all the
/// connections it carries at once (`shutdown(2)` both ways on both sides), as a lost network
/// does: neither peer gets a close frame. Tests point clients at ``port`` instead of the server.
///
/// ```swift
/// let proxy = try CuttingProxy(target: io.port)
/// let client = Client(url: "ws://127.0.0.1:\(proxy.port)/parley")
/// proxy.cut()          // the client sees its connection drop, and reconnects through the proxy
/// proxy.stop()
/// ```
public final class CuttingProxy: Sendable {
    /// The port clients connect to.
    public let port: Int
    /// The port connections are forwarded to; changing it sends later connections elsewhere.
    public let target: Locked<Int>
    private let listener: Int32
    private let connections = Mutex<[Int32]>([])
    private let stopped = Atomic<Bool>(false)
    /// Connections accepted so far.
    public let accepted = Atomic<Int>(0)

    /// Listens on a free port of 127.0.0.1.
    /// - Throws: `POSIXError` when the listener cannot be set up.
    public init(target: Int) throws {
        self.target = Locked(target)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 128) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Cuts every connection carried now (later ones are forwarded as usual).
    /// - Returns: how many were cut.
    @discardableResult
    public func cut() -> Int {
        let fds = connections.withLock { fds in
            defer { fds = [] }
            return fds
        }
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
        return fds.count / 2
    }

    /// Stops accepting and cuts everything.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        cut()
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .acquiring) {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                break
            }
            accepted.add(1, ordering: .relaxed)
            guard let upstream = Self.connect(port: target.value) else {
                close(client)
                continue
            }
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(upstream, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            connections.withLock { $0 += [client, upstream] }
            // Each direction on its own thread; the last one to finish closes both descriptors.
            let remaining = Atomic<Int>(2)
            for (from, to) in [(client, upstream), (upstream, client)] {
                Thread { [self] in
                    Self.pump(from: from, to: to)
                    shutdown(to, Int32(SHUT_RDWR))
                    shutdown(from, Int32(SHUT_RDWR))
                    if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                        connections.withLock { $0.removeAll { $0 == client || $0 == upstream } }
                        close(client)
                        close(upstream)
                    }
                }.start()
            }
        }
        close(listener)
    }

    private static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { close(fd); return nil }
        return fd
    }

    private static func pump(from: Int32, to: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                sent += written
            }
        }
    }
}
