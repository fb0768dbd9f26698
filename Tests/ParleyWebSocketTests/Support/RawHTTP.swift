import Foundation
import Glibc
import XCTest
@testable import ParleyWebSocket

// A tiny blocking TCP client for integration tests: it sends arbitrary bytes (malformed
// requests, hand-built frames) and reads what the server answers, with SO_RCVTIMEO so that a
// server that never answers fails the test instead of hanging it.

/// Why a raw socket call failed.
struct RawSocketError: Error, CustomStringConvertible {
    var description: String
}

/// A frame read from the server (server frames are never masked).
struct RawFrame: Equatable, CustomStringConvertible {
    var fin: Bool
    var rsv: UInt8
    var opcode: UInt8
    var masked: Bool
    var payload: [UInt8]

    /// The close code of a close frame with a body.
    var closeCode: UInt16? {
        guard opcode == Opcode.close.rawValue, payload.count >= 2 else { return nil }
        return UInt16(payload[0]) << 8 | UInt16(payload[1])
    }

    /// The close reason of a close frame, as text.
    var closeReason: String {
        guard opcode == Opcode.close.rawValue, payload.count > 2 else { return "" }
        return String(decoding: payload[2...], as: UTF8.self)
    }

    var description: String { "RawFrame(opcode: \(opcode), fin: \(fin), \(payload.count) bytes, code: \(closeCode.map(String.init) ?? "-"))" }
}

/// How a read ended.
enum RawReadEnd: Equatable {
    /// The server closed the connection (recv returned 0, or ECONNRESET).
    case eof
    /// Nothing arrived within the timeout.
    case timedOut
}

/// A blocking TCP connection to a test server.
final class RawClient {
    private(set) var fd: Int32
    /// Bytes read but not consumed yet.
    private var buffer: [UInt8] = []
    /// Whether the peer closed (EOF or reset) during a previous read.
    private(set) var sawEOF = false

    /// A masking key for hand-built client frames.
    static let maskKey: (UInt8, UInt8, UInt8, UInt8) = (0x12, 0x34, 0x56, 0x78)

    /// A valid `Sec-WebSocket-Key` (base64 of 16 bytes).
    static let validKey = "dGhlIHNhbXBsZSBub25jZQ=="

    /// Connects to `host:port`.
    /// - Parameters:
    ///   - timeout: the SO_RCVTIMEO and SO_SNDTIMEO of every blocking call.
    ///   - receiveBuffer: an SO_RCVBUF to set before connecting (a small one makes the server's
    ///     sends back up sooner), or nil for the default.
    ///   - source: an IPv4 address to bind the client end to before connecting (on Linux every
    ///     127.x.y.z is loopback, so tests can connect from several client addresses), or nil.
    init(port: Int, host: String = "127.0.0.1", timeout: Duration = .seconds(3), receiveBuffer: Int32? = nil,
         source: String? = nil) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw RawSocketError(description: "bad IPv4 address \(host)") }
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawSocketError(description: "socket: errno \(errno)") }
        if let receiveBuffer { SystemSocket.setOption(fd, SOL_SOCKET, SO_RCVBUF, receiveBuffer) }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            guard inet_pton(AF_INET, source, &local.sin_addr) == 1 else { throw RawSocketError(description: "bad IPv4 address \(source)") }
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw RawSocketError(description: "bind to \(source): errno \(errno)") }
        }
        setTimeout(timeout)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            let code = errno
            Glibc.close(fd)
            fd = -1
            throw RawSocketError(description: "connect to \(host):\(port): errno \(code)")
        }
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Sets the receive and send timeouts of later blocking calls.
    func setTimeout(_ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    // MARK: Writing

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw RawSocketError(description: "send: errno \(errno)") }
            offset += n
        }
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    /// Sends a masked client frame built with ``FrameEncoder``.
    func sendFrame(_ opcode: Opcode, _ payload: [UInt8], fin: Bool = true) throws {
        try send(FrameEncoder.frame(opcode: opcode, fin: fin, payload: payload, maskKey: Self.maskKey))
    }

    // MARK: Reading

    /// Reads once into the buffer; nil when bytes arrived, else how the read ended.
    private func fill() -> RawReadEnd? {
        guard !sawEOF else { return .eof }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[..<n])
                return nil
            }
            if n == 0 {
                sawEOF = true
                return .eof
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .timedOut
            default:  // ECONNRESET and friends: the server is gone
                sawEOF = true
                return .eof
            }
        }
    }

    /// Reads until the server closes or nothing arrives within the timeout; returns every byte
    /// not consumed yet and how the read ended.
    func readToEnd() -> (bytes: [UInt8], end: RawReadEnd) {
        var end: RawReadEnd?
        while end == nil { end = fill() }
        defer { buffer = [] }
        return (buffer, end!)
    }

    /// Reads an HTTP head (through the blank line); nil on EOF or timeout before it is complete.
    func readHead() -> HTTPHead? {
        while true {
            if let end = headEnd() {
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end)
                return HTTPHead(head)
            }
            if fill() != nil { return nil }
        }
    }

    /// Reads exactly `count` bytes (a body of known length); nil on EOF or timeout before.
    func readBytes(_ count: Int) -> [UInt8]? {
        while buffer.count < count {
            if fill() != nil { return nil }
        }
        defer { buffer.removeFirst(count) }
        return Array(buffer[..<count])
    }

    /// Reads one response: its head, then its body by `Content-Length` (none for `HEAD`, `204`
    /// and `304`); nil on EOF or timeout before it is complete.
    func readResponse(toHead: Bool = false) -> (head: HTTPHead, body: [UInt8])? {
        guard let head = readHead() else { return nil }
        let length = toHead || head.status == 204 || head.status == 304 ? 0 : Int(head["Content-Length"] ?? "0") ?? 0
        guard let body = readBytes(length) else { return nil }
        return (head, body)
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 3..<buffer.count where buffer[i - 3] == 0x0D && buffer[i - 2] == 0x0A && buffer[i - 1] == 0x0D && buffer[i] == 0x0A {
            return i + 1
        }
        return nil
    }

    /// Reads one frame; nil on EOF or timeout before it is complete.
    func readFrame() -> RawFrame? {
        while true {
            if let frame = takeFrame() { return frame }
            if fill() != nil { return nil }
        }
    }

    private func takeFrame() -> RawFrame? {
        guard buffer.count >= 2 else { return nil }
        let b0 = buffer[0], b1 = buffer[1]
        var header = 2
        var length = Int(b1 & 0x7F)
        if length == 126 {
            guard buffer.count >= 4 else { return nil }
            length = Int(buffer[2]) << 8 | Int(buffer[3])
            header = 4
        } else if length == 127 {
            guard buffer.count >= 10 else { return nil }
            length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
            header = 10
        }
        let masked = b1 & 0x80 != 0
        if masked { header += 4 }
        guard buffer.count >= header + length else { return nil }
        var payload = Array(buffer[header..<(header + length)])
        if masked {
            let key = Array(buffer[(header - 4)..<header])
            for i in payload.indices { payload[i] ^= key[i % 4] }
        }
        buffer.removeFirst(header + length)
        return RawFrame(fin: b0 & 0x80 != 0, rsv: b0 & 0x70, opcode: b0 & 0x0F, masked: masked, payload: payload)
    }

    /// Reads frames until a close frame arrives, skipping pings and data; nil if none came.
    func readCloseFrame() -> RawFrame? {
        while let frame = readFrame() {
            if frame.opcode == Opcode.close.rawValue { return frame }
        }
        return nil
    }

    /// Reads until the server closes the connection, discarding what arrives.
    /// - Returns: true at EOF, false when the timeout passed first.
    func awaitEOF() -> Bool {
        readToEnd().end == .eof
    }

    // MARK: HTTP

    /// An upgrade request for `path`, with the required headers unless overridden.
    /// - Parameters:
    ///   - headers: replace or add header lines; a nil value removes the default header.
    static func upgradeRequest(path: String = "/", method: String = "GET", headers: KeyValuePairs<String, String?> = [:]) -> String {
        var fields: [(String, String)] = [
            ("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", validKey), ("Sec-WebSocket-Version", "13"),
        ]
        for (name, value) in headers {
            if let index = fields.firstIndex(where: { $0.0.lowercased() == name.lowercased() }) {
                if let value { fields[index].1 = value } else { fields.remove(at: index) }
            } else if let value {
                fields.append((name, value))
            }
        }
        return "\(method) \(path) HTTP/1.1\r\n" + fields.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
    }

    /// Sends `request` and returns the response head; nil if none came.
    func exchange(_ request: String) throws -> HTTPHead? {
        try send(request)
        return readHead()
    }

    /// Performs a valid opening handshake and checks the 101.
    func upgrade(path: String = "/", file: StaticString = #filePath, line: UInt = #line) throws {
        let head = try XCTUnwrap(try exchange(Self.upgradeRequest(path: path)), "no handshake response", file: file, line: line)
        guard head.status == 101 else { throw RawSocketError(description: "expected 101, got \(head.statusLine)") }
        XCTAssertEqual(head["Sec-WebSocket-Accept"], ServerHandshake.acceptValue(forKey: Self.validKey), file: file, line: line)
    }
}

/// A parsed HTTP response head.
struct HTTPHead: CustomStringConvertible {
    let text: String
    let statusLine: String
    let status: Int
    let headers: [(name: String, value: String)]

    init(_ text: String) {
        self.text = text
        let lines = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        statusLine = lines.first ?? ""
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        status = parts.count >= 2 ? Int(parts[1]) ?? -1 : -1
        headers = lines.dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }

    subscript(name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var description: String { text }
}

/// A listening TCP socket on 127.0.0.1 that never accepts: the kernel completes TCP
/// handshakes into its backlog, and nothing ever answers.
final class SilentListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else {
            let code = errno
            if fd >= 0 { Glibc.close(fd) }
            throw RawSocketError(description: "listen: errno \(code)")
        }
        self.fd = fd
        port = SystemSocket.localPort(fd)
    }

    deinit { Glibc.close(fd) }

    /// A port that was free a moment ago and has no listener now.
    static func closedPort() throws -> Int {
        let listener = try SilentListener()
        return listener.port  // closed when `listener` is released
    }
}
