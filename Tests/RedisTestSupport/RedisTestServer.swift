import Foundation
import Glibc

/// A throw-away `redis-server` for tests: on a free 127.0.0.1 port, no persistence, stopped
/// by PID. It can be stopped and started again on the same port (an outage in a test).
///
/// ```swift
/// let redis = try RedisTestServer.start()          // waits until it answers PING
/// defer { redis.stop() }
/// let url = redis.url                               // redis://127.0.0.1:PORT
/// ```
public final class RedisTestServer: @unchecked Sendable {
    /// Why a server could not be started.
    public enum Failure: Error, CustomStringConvertible {
        /// No `redis-server` on this machine (`apt-get install -y redis-server`).
        case notInstalled
        /// It started but did not answer PING in time; the text has its log.
        case didNotStart(String)

        public var description: String {
            switch self {
            case .notInstalled: return "redis-server is not installed (apt-get install -y redis-server)"
            case .didNotStart(let log): return "redis-server did not start: \(log)"
            }
        }
    }

    /// The port it listens on (127.0.0.1).
    public let port: Int
    /// `requirepass`, if any.
    public let password: String?
    /// The certificate, key and CA files of a TLS port (`--tls-port`), or nil.
    public struct TLSFiles: Sendable {
        public var certificate: String
        public var key: String
        public var ca: String

        public init(certificate: String, key: String, ca: String) {
            self.certificate = certificate
            self.key = key
            self.ca = ca
        }
    }
    /// The TLS files when the server also listens for TLS on ``tlsPort``.
    public let tls: TLSFiles?
    /// The TLS port (127.0.0.1), or 0 without ``tls``. ``port`` stays plain (it answers the
    /// readiness PING).
    public let tlsPort: Int

    /// `rediss://localhost:TLS_PORT` (with the password when there is one): the host name the
    /// test certificate carries.
    public var tlsURL: String { "rediss://" + (password.map { ":\($0)@" } ?? "") + "localhost:\(tlsPort)" }
    private let directory: String
    private let lock = NSLock()
    private var processID: pid_t?

    /// `redis://127.0.0.1:PORT` (with the password when there is one).
    public var url: String { "redis://" + (password.map { ":\($0)@" } ?? "") + "127.0.0.1:\(port)" }

    /// The path of `redis-server`, or nil.
    public static var executable: String? {
        for directory in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
            let path = directory + "/redis-server"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    private init(port: Int, password: String?, tls: TLSFiles?, tlsPort: Int, directory: String) {
        self.port = port
        self.password = password
        self.tls = tls
        self.tlsPort = tlsPort
        self.directory = directory
    }

    deinit { stop() }

    /// Starts a server on a free port and waits until it answers PING (up to 10 s).
    /// - Parameters:
    ///   - password: sets `requirepass`.
    ///   - tls: also listen for TLS with these files (clients need no certificate).
    /// - Throws: ``Failure``.
    public static func start(password: String? = nil, tls: TLSFiles? = nil) throws -> RedisTestServer {
        guard executable != nil else { throw Failure.notInstalled }
        let directory = NSTemporaryDirectory() + "parley-redis-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // A port freed just now can be taken by someone else before redis binds it: try a few.
        var lastError = Failure.didNotStart("no free port")
        for _ in 0..<5 {
            let server = RedisTestServer(port: freePort(), password: password, tls: tls, tlsPort: tls == nil ? 0 : freePort(),
                                         directory: directory)
            do {
                try server.restart()
                return server
            } catch let error as Failure {
                lastError = error
            }
        }
        throw lastError
    }

    /// Starts the server again (after ``stop()``) on the same port.
    public func restart() throws {
        guard let executable = Self.executable else { throw Failure.notInstalled }
        var arguments = [executable, "--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no",
                         "--daemonize", "no", "--dir", directory, "--logfile", directory + "/redis.log"]
        if let password { arguments += ["--requirepass", password] }
        if let tls {
            arguments += ["--tls-port", String(tlsPort), "--tls-cert-file", tls.certificate, "--tls-key-file", tls.key,
                          "--tls-ca-cert-file", tls.ca, "--tls-auth-clients", "no"]
        }
        // posix_spawn, not Foundation's Process: the PID is ours to signal and reap with waitpid.
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 2, "/dev/null", O_WRONLY, 0)
        // The child must not inherit this thread's blocked signals (it would ignore SIGTERM).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let status = posix_spawn(&pid, executable, &fileActions, &attributes, argv, environ)
        guard status == 0 else { throw Failure.didNotStart("posix_spawn: \(String(cString: strerror(status)))") }
        lock.withLock { processID = pid }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            var exitStatus: Int32 = 0
            if waitpid(pid, &exitStatus, WNOHANG) == pid {
                lock.withLock { processID = nil }
                break
            }
            if ping() { return }
            usleep(20_000)
        }
        stop()
        let log = (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? ""
        throw Failure.didNotStart(String(log.suffix(500)))
    }

    /// Stops the server (SIGTERM to its PID, SIGKILL after 5 s) and reaps it.
    public func stop() {
        let pid = lock.withLock { () -> pid_t? in
            defer { processID = nil }
            return processID
        }
        guard let pid else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        var exitStatus: Int32 = 0
        while Date() < deadline {
            let reaped = waitpid(pid, &exitStatus, WNOHANG)
            if reaped == pid || reaped < 0 { return }
            usleep(2_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &exitStatus, 0)
    }

    /// The PID of the running server, if any.
    public var pid: Int32? { lock.withLock { processID } }

    /// Whether it answers PING (`+PONG`, or `-NOAUTH` when it wants a password) on its port.
    private func ping() -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return false }
        let request = Array("PING\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return false }
        var reply = [UInt8](repeating: 0, count: 64)
        let n = recv(fd, &reply, reply.count, 0)
        guard n > 0 else { return false }
        let text = String(decoding: reply[..<n], as: UTF8.self)
        return text.hasPrefix("+PONG") || text.hasPrefix("-NOAUTH")
    }

    /// A port that was free a moment ago: bind port 0, read it, close.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Removes the server's directory (after ``stop()``).
    public func removeFiles() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
