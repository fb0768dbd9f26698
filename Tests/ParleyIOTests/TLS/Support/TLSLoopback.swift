import Foundation
import Glibc
import TestSupport
import XCTest
@_spi(IO) @testable import ParleyIO

/// Real loopback sockets for TLS tests, driven in the test's thread with poll(2): no event loop,
/// so each test sees exactly what the engine returns.
enum TLSLoopback {
    /// How long any drive loop may take before the test fails.
    static let timeout = eventTimeout

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A connected TCP pair on loopback (`host` 127.0.0.1 or ::1), both ends non-blocking.
    /// Plain system calls, so the tests depend on nothing but the TLS engine.
    static func socketPair(host: String = "127.0.0.1") throws -> (client: Int32, server: Int32) {
        _ = signal(SIGPIPE, SIG_IGN)
        let listener = try listen(host: host)
        defer { close(listener.fd) }
        let client = try connect(host: host, port: listener.port)
        let server = accept(listener.fd, nil, nil)
        guard server >= 0 else {
            close(client)
            throw Failure(description: "accept failed: \(String(cString: strerror(errno)))")
        }
        setNonBlocking(server)
        return (client, server)
    }

    /// A listening socket on loopback `host`, port chosen by the system.
    static func listen(host: String) throws -> (fd: Int32, port: Int) {
        var address = try loopback(host, port: 0)
        let fd = socket(Int32(address.ss_family), Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed: \(String(cString: strerror(errno)))") }
        let length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let addressLength = Self.length(of: address)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, addressLength) }
        }
        guard bound == 0, Glibc.listen(fd, 8) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot listen on \(host): \(reason)")
        }
        var local = sockaddr_storage()
        var boundLength = length
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &boundLength) }
        }
        let port = withUnsafeBytes(of: &local) { Int(UInt16($0[2]) << 8 | UInt16($0[3])) }
        return (fd, port)
    }

    /// A TCP connection to loopback `host`:`port` (blocking connect), then non-blocking.
    static func connect(host: String = "127.0.0.1", port: Int) throws -> Int32 {
        _ = signal(SIGPIPE, SIG_IGN)
        var address = try loopback(host, port: port)
        let fd = socket(Int32(address.ss_family), Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed: \(String(cString: strerror(errno)))") }
        let addressLength = Self.length(of: address)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, addressLength) }
        }
        guard status == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot connect to \(host):\(port): \(reason)")
        }
        setNonBlocking(fd)
        return fd
    }

    private static func setNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    private static func length(of address: sockaddr_storage) -> socklen_t {
        socklen_t(Int32(address.ss_family) == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
    }

    private static func loopback(_ host: String, port: Int) throws -> sockaddr_storage {
        var storage = sockaddr_storage()
        if host.contains(":") {
            try withUnsafeMutablePointer(to: &storage) {
                try $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    address.pointee.sin6_family = sa_family_t(AF_INET6)
                    address.pointee.sin6_port = UInt16(port).bigEndian
                    guard inet_pton(AF_INET6, host, &address.pointee.sin6_addr) == 1 else { throw Failure(description: "bad address \(host)") }
                }
            }
        } else {
            try withUnsafeMutablePointer(to: &storage) {
                try $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    address.pointee.sin_family = sa_family_t(AF_INET)
                    address.pointee.sin_port = UInt16(port).bigEndian
                    guard inet_pton(AF_INET, host, &address.pointee.sin_addr) == 1 else { throw Failure(description: "bad address \(host)") }
                }
            }
        }
        return storage
    }

    /// Waits until `fd` is ready for what `wants` asks (read or write), up to `milliseconds`.
    static func wait(_ fd: Int32, readable: Bool, milliseconds: Int32) {
        var pollFD = pollfd(fd: fd, events: Int16(readable ? POLLIN : POLLOUT), revents: 0)
        _ = poll(&pollFD, 1, milliseconds)
    }

    /// Runs both handshakes until each has completed or failed.
    static func handshake(_ client: TLSConnection, _ server: TLSConnection) -> (client: TLSConnection.HandshakeOutcome, server: TLSConnection.HandshakeOutcome) {
        let deadline = ContinuousClock.now + timeout
        var clientOutcome = client.handshake()
        var serverOutcome = server.handshake()
        while ContinuousClock.now < deadline && (!clientOutcome.isFinal || !serverOutcome.isFinal) {
            var fds: [pollfd] = []
            if let events = clientOutcome.pollEvents { fds.append(pollfd(fd: client.fd, events: events, revents: 0)) }
            if let events = serverOutcome.pollEvents { fds.append(pollfd(fd: server.fd, events: events, revents: 0)) }
            _ = poll(&fds, nfds_t(fds.count), 100)
            if !clientOutcome.isFinal { clientOutcome = client.handshake() }
            if !serverOutcome.isFinal { serverOutcome = server.handshake() }
        }
        return (clientOutcome, serverOutcome)
    }

    /// Runs one handshake against a peer in another process.
    static func handshake(_ connection: TLSConnection) -> TLSConnection.HandshakeOutcome {
        let deadline = ContinuousClock.now + timeout
        var outcome = connection.handshake()
        while ContinuousClock.now < deadline && !outcome.isFinal {
            wait(connection.fd, readable: outcome == .wantRead, milliseconds: 100)
            outcome = connection.handshake()
        }
        return outcome
    }

    /// Reads until `count` bytes came, the stream ends or fails; the peer may be in-process
    /// (`pump` is called between reads to let it write).
    static func read(_ connection: TLSConnection, count: Int, pump: () -> Void = {}) -> (bytes: [UInt8], end: TLSConnection.Outcome?) {
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while received.count < count && ContinuousClock.now < deadline {
            let outcome = buffer.withUnsafeMutableBytes { connection.read(into: $0) }
            switch outcome {
            case .bytes(let n):
                received += buffer[..<n]
            case .wantRead, .wantWrite:
                pump()
                wait(connection.fd, readable: outcome == .wantRead, milliseconds: 20)
            case .closed, .failed:
                return (received, outcome)
            }
        }
        return (received, nil)
    }

    /// Writes all of `bytes` from `writer` while `reader` reads them, in turns (both in this
    /// thread, so neither socket buffer can fill for good). Returns what `reader` received.
    static func transfer(_ bytes: [UInt8], from writer: TLSConnection, to reader: TLSConnection) -> [UInt8] {
        var sent = 0
        let pump = {
            while sent < bytes.count {
                let outcome = bytes[sent...].withUnsafeBytes { writer.write($0) }
                guard case .bytes(let n) = outcome else { return }
                sent += n
            }
        }
        pump()
        return read(reader, count: bytes.count, pump: pump).bytes
    }

    /// Writes all of `bytes` to a peer in another process.
    @discardableResult
    static func writeAll(_ bytes: [UInt8], to connection: TLSConnection) -> TLSConnection.Outcome {
        let deadline = ContinuousClock.now + timeout
        var sent = 0
        while sent < bytes.count && ContinuousClock.now < deadline {
            let outcome = bytes[sent...].withUnsafeBytes { connection.write($0) }
            switch outcome {
            case .bytes(let n): sent += n
            case .wantRead, .wantWrite: wait(connection.fd, readable: outcome == .wantRead, milliseconds: 100)
            case .closed, .failed: return outcome
            }
        }
        return .bytes(sent)
    }

    /// `count` bytes of a repeating, position-dependent pattern (so a lost or moved byte shows).
    static func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
    }
}

extension TLSConnection.HandshakeOutcome {
    var isFinal: Bool {
        switch self {
        case .completed, .failed: true
        case .wantRead, .wantWrite: false
        }
    }

    var pollEvents: Int16? {
        switch self {
        case .wantRead: Int16(POLLIN)
        case .wantWrite: Int16(POLLOUT)
        case .completed, .failed: nil
        }
    }

    /// The error of a failed handshake, or nil.
    var error: TLSError? {
        if case .failed(let error) = self { return error }
        return nil
    }
}

extension TLSConnection.Outcome {
    var error: TLSError? {
        if case .failed(let error) = self { return error }
        return nil
    }
}

/// Contexts and connections over the test certificates.
struct TLSFixture {
    let certificates: TestCertificates

    init() throws {
        certificates = try TestCertificates.shared()
    }

    /// A server presenting `pair` (default: the valid localhost certificate).
    func serverConfiguration(_ pair: TestCertificates.Pair? = nil) -> TLSConfiguration {
        let pair = pair ?? certificates.server
        return .server(certificateChain: .file(pair.certificate), privateKey: .file(pair.key))
    }

    /// A client trusting the test CA.
    func clientConfiguration() -> TLSConfiguration {
        TLSConfiguration(trust: .certificateAuthorities(.file(certificates.ca)))
    }

    /// A client and a server connection over a fresh TCP pair. The caller closes the fds.
    func pair(server: TLSConfiguration? = nil, client: TLSConfiguration? = nil, serverName: String? = "localhost",
              host: String = "127.0.0.1") throws -> (client: TLSConnection, server: TLSConnection) {
        let serverContext = try TLSContext(configuration: server ?? serverConfiguration(), role: .server)
        let clientContext = try TLSContext(configuration: client ?? clientConfiguration(), role: .client)
        let fds = try TLSLoopback.socketPair(host: host)
        return (try TLSConnection(context: clientContext, fd: fds.client, serverName: serverName),
                try TLSConnection(context: serverContext, fd: fds.server))
    }
}

extension TLSConnection {
    /// Closes the socket (tests own it).
    func closeSocket() { close(fd) }
}
