import Foundation
import Glibc
import XCTest

/// nginx (Debian's) terminating TLS in front of a server on this machine: the README's proxy
/// recipe, in a temporary directory, on a free 127.0.0.1 port, stopped by its PID in the teardown.
/// Skipped without nginx, except under `CI`, where it fails.
final class Nginx: Sendable {
    /// The TLS port nginx listens on (127.0.0.1).
    let port: Int

    private init(port: Int) {
        self.port = port
    }

    static var executable: String? {
        ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The `location` of the README's recipe: WebSocket upgrades passed on (HTTP/1.1, `Upgrade`
    /// and `Connection`), the client's address and scheme forwarded, timeouts beyond the ping interval.
    static func location(upstream: Int, bind: String?) -> String {
        """
            location / {
                proxy_pass http://127.0.0.1:\(upstream);
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection $connection_upgrade;
                proxy_set_header Host $host;
                proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                proxy_set_header X-Forwarded-Proto $scheme;
                proxy_read_timeout 75s;
                proxy_send_timeout 75s;
        \(bind.map { "        proxy_bind \($0);\n" } ?? "")    }
        """
    }

    /// Starts nginx in front of `upstream` (127.0.0.1), serving `certificate` and `key`.
    /// - Parameter bind: the address nginx connects to the upstream from (`proxy_bind`), so that
    ///   the server tells nginx from the client on one machine.
    static func start(upstream: Int, certificate: String, key: String, bind: String? = nil, for test: XCTestCase) throws -> Nginx {
        guard let executable else {
            let message = "nginx is not installed (apt-get install -y nginx)"
            if ProcessInfo.processInfo.environment["CI"] != nil { throw EndToEndError(message) }
            throw XCTSkip(message + "; set CI=1 to make this a failure")
        }
        let directory = NSTemporaryDirectory() + "parley-nginx-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        var lastError = "no free port"
        for _ in 0..<5 {
            let port = freePort()
            let configuration = """
                daemon off;
                master_process off;
                worker_processes 1;
                pid \(directory)/nginx.pid;
                error_log \(directory)/error.log warn;
                events { worker_connections 512; }
                http {
                    access_log off;
                    client_body_temp_path \(directory)/body;
                    proxy_temp_path \(directory)/proxy;
                    fastcgi_temp_path \(directory)/fastcgi;
                    uwsgi_temp_path \(directory)/uwsgi;
                    scgi_temp_path \(directory)/scgi;
                    map $http_upgrade $connection_upgrade {
                        default upgrade;
                        ''      close;
                    }
                    server {
                        listen 127.0.0.1:\(port) ssl;
                        ssl_certificate \(certificate);
                        ssl_certificate_key \(key);
                \(location(upstream: upstream, bind: bind))
                    }
                }

                """
            let path = directory + "/nginx.conf"
            try configuration.write(toFile: path, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["-p", directory, "-c", path, "-e", directory + "/error.log"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            test.addTeardownBlock { terminate(process) }
            // Ready when the port accepts a connection; gone when it could not bind.
            for _ in 0..<500 where process.isRunning {
                if accepts(port) { return Nginx(port: port) }
                usleep(10_000)
            }
            terminate(process)
            lastError = (try? String(contentsOfFile: directory + "/error.log", encoding: .utf8)) ?? "nginx exited"
        }
        throw EndToEndError("nginx did not start: \(lastError.suffix(500))")
    }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    private static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
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
}
