import CParleySystem

/// An errno value as an Error, for `Result` and typed throws.
package struct Errno: Error {
    package let code: Int32
    package init(_ code: Int32) { self.code = code }
}

/// Thin wrappers over the socket calls Parley makes; every function returns errno on failure
/// instead of throwing, so the loop can decide what each error means. Calls that differ
/// between systems go through CParleySystem; `portable` selects its POSIX variants on Linux too
/// (what a loop with the poll backend uses, see ``IOBackend/poll``).
package enum SystemSocket {
    /// Ignores SIGPIPE process-wide: a peer that vanishes mid-write must cost an EPIPE, not the
    /// process. (Sockets also never raise it: MSG_NOSIGNAL on every send, or SO_NOSIGPIPE on
    /// the socket; this covers any other write path.)
    package static func ignoreSIGPIPE() {
        _ = signal(SIGPIPE, SIG_IGN)
    }

    /// Raises the open-file soft limit to the hard limit, so a server can hold as many
    /// connections as the system allows. Returns the soft limit in force afterwards.
    @discardableResult
    package static func raiseOpenFileLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(openFileLimitResource, &limit) == 0 else { return 0 }
        let current = limit.rlim_cur
        if current < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            if setrlimit(openFileLimitResource, &limit) != 0 {
                // macOS refuses more than OPEN_MAX (10,240) even under an unlimited hard limit.
                limit.rlim_cur = max(current, min(limit.rlim_max, 10_240))
                if setrlimit(openFileLimitResource, &limit) != 0 { limit.rlim_cur = current }
            }
        }
        return UInt64(limit.rlim_cur)
    }

    /// Resolves `host` (a name such as `localhost`, or a literal address) to socket addresses.
    package static func resolve(host: String, port: Int, passive: Bool = false) -> Result<[sockaddr_storage], Errno> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = socketStreamType
        hints.ai_flags = passive ? AI_PASSIVE : AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard status == 0, let first = list else { return .failure(Errno(status == EAI_SYSTEM ? errno : EHOSTUNREACH)) }
        defer { freeaddrinfo(first) }
        var addresses: [sockaddr_storage] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let address = info.pointee.ai_addr {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(info.pointee.ai_addrlen))) }
                addresses.append(storage)
            }
            cursor = info.pointee.ai_next
        }
        return addresses.isEmpty ? .failure(Errno(EHOSTUNREACH)) : .success(addresses)
    }

    /// Starts a non-blocking TCP connection to `address` (no Nagle): the connection completes
    /// when the descriptor turns writable (check `SO_ERROR` then; ``StreamIO/Dialer`` does).
    /// - Parameter portable: create the socket with POSIX calls only (see the type's note).
    /// - Returns: the descriptor, or the errno of a failed `socket` or `connect` (the descriptor
    ///   is closed then).
    package static func startConnect(to address: sockaddr_storage, portable: Bool) -> Result<Int32, Errno> {
        var address = address
        let fd = cps_socket_stream(Int32(address.ss_family), portable ? 1 : 0)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        setNoDelay(fd)
        let length = length(of: address)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard status == 0 || errno == EINPROGRESS else {
            let failure = Errno(errno)
            closeDescriptor(fd)
            return .failure(failure)
        }
        return .success(fd)
    }

    package static func length(of address: sockaddr_storage) -> socklen_t {
        socklen_t(Int32(address.ss_family) == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
    }

    /// The port of a bound or connected socket.
    package static func localPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return withUnsafeBytes(of: &storage) { raw in
            // sin_port and sin6_port sit at the same offset, in network byte order.
            Int(UInt16(raw[2]) << 8 | UInt16(raw[3]))
        }
    }

    /// A listening, non-blocking socket with SO_REUSEADDR. An IPv6 wildcard (`::`) also
    /// accepts IPv4. Returns the fd and the bound port (useful with port 0).
    /// - Parameter portable: create the socket with POSIX calls only (see the type's note).
    package static func listen(host: String, port: Int, backlog: Int32, portable: Bool) -> Result<(fd: Int32, port: Int), Errno> {
        let addresses: [sockaddr_storage]
        switch resolve(host: host, port: port, passive: true) {
        case .success(let found): addresses = found
        case .failure(let code): return .failure(code)
        }
        var lastError: Int32 = EADDRNOTAVAIL
        for var address in addresses {
            let fd = cps_socket_stream(Int32(address.ss_family), portable ? 1 : 0)
            guard fd >= 0 else { lastError = errno; continue }
            setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if Int32(address.ss_family) == AF_INET6 { setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) }
            let addressLength = length(of: address)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, addressLength) }
            }
            guard bound == 0, startListening(fd, backlog) == 0 else {
                lastError = errno
                closeDescriptor(fd)
                continue
            }
            return .success((fd, localPort(fd)))
        }
        return .failure(Errno(lastError))
    }

    package static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        _ = setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// The peer address of a connected socket, `ip:port` or `[ip]:port`; "" on failure.
    package static func peerAddress(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard status == 0 else { return "" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let resolved = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard resolved == 0 else { return "" }
        let text = { (chars: [CChar]) in String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        let (hostText, portText) = (text(host), text(service))
        return Int32(storage.ss_family) == AF_INET6 ? "[\(hostText)]:\(portText)" : "\(hostText):\(portText)"
    }

    /// Disables Nagle's algorithm: frames are small and latency matters more than packets.
    package static func setNoDelay(_ fd: Int32) {
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    /// Accepts a pending connection as a non-blocking, close-on-exec socket that never raises
    /// SIGPIPE.
    /// - Parameter portable: `accept` + `fcntl` even where `accept4` exists.
    /// - Returns: the descriptor, or the errno (`EAGAIN` when none is pending).
    package static func accept(_ listenFD: Int32, portable: Bool) -> Result<Int32, Errno> {
        let fd = cps_accept(listenFD, portable ? 1 : 0)
        return fd >= 0 ? .success(fd) : .failure(Errno(errno))
    }

    /// Turns on TCP keep-alive probes: a peer that vanished without a FIN or RST is detected
    /// after about `idle + interval × count` seconds of silence.
    package static func enableKeepAlive(_ fd: Int32, idleSeconds: Int32, intervalSeconds: Int32, count: Int32) {
        cps_set_keepalive(fd, idleSeconds, intervalSeconds, count)
    }
}

/// `listen(2)`, outside ``SystemSocket`` whose own `listen` would hide it.
private func startListening(_ fd: Int32, _ backlog: Int32) -> Int32 {
    listen(fd, backlog)
}
