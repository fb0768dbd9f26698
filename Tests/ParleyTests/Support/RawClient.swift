import Foundation
import Glibc

// A blocking TCP client that performs the opening handshake by hand and then sends only what a
// test writes: it never answers a ping, as a vanished peer would. SO_RCVTIMEO bounds every read.

/// Why a raw socket call failed.
struct RawSocketError: Error, CustomStringConvertible {
    var description: String
}

/// A blocking TCP connection with a hand-made WebSocket upgrade.
final class RawClient {
    private var fd: Int32
    private var buffer: [UInt8] = []

    /// A valid `Sec-WebSocket-Key` (base64 of 16 bytes).
    static let key = "dGhlIHNhbXBsZSBub25jZQ=="

    /// Connects to 127.0.0.1:`port`; every later read waits at most `timeout`.
    /// - Parameter receiveBuffer: `SO_RCVBUF` before connecting (a small window makes a
    ///   non-reading client fill the server's queue quickly); nil keeps the system's.
    init(port: Int, timeout: Duration = .seconds(3), receiveBuffer: Int32? = nil) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawSocketError(description: "socket: errno \(errno)") }
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer { _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            let code = errno
            Glibc.close(fd)
            throw RawSocketError(description: "connect to 127.0.0.1:\(port): errno \(code)")
        }
    }

    deinit { close() }

    /// Closes the TCP connection.
    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Sends an upgrade request for `target` and returns the status code of the response head.
    /// - Parameter texts: masked text frames sent in the same write as the request, so the
    ///   server reads them with the head, before it has answered anything.
    func upgrade(target: String, thenTextFrames texts: [String] = []) throws -> Int {
        let request = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(Self.key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try write(Array(request.utf8) + Self.maskedTextFrames(texts))
        while true {
            if let end = headEnd() {
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end)
                let parts = head.split(separator: " ", maxSplits: 2)
                guard parts.count >= 2, let status = Int(parts[1]) else { throw RawSocketError(description: "bad status line: \(head)") }
                return status
            }
            guard fill() else { throw RawSocketError(description: "no handshake response") }
        }
    }

    /// Sends a plain HTTP request and reads the answer: to the end when the server closes
    /// after it, by its `Content-Length` when the connection persists (`Connection: keep-alive`).
    /// - Returns: the head's lines (status line first) and the body.
    func http(_ request: String) throws -> (head: [String], body: [UInt8]) {
        try write(Array(request.utf8))
        return try readResponse(bodiless: request.hasPrefix("HEAD "))
    }

    /// Reads one HTTP response, as ``http(_:)`` does; `bodiless` for the answer to `HEAD`.
    func readResponse(bodiless: Bool = false) throws -> (head: [String], body: [UInt8]) {
        var end = headEnd()
        while end == nil, fill() { end = headEnd() }
        guard let end else { throw RawSocketError(description: "no HTTP response head") }
        let head = String(decoding: buffer[..<(end - 4)], as: UTF8.self).components(separatedBy: "\r\n")
        buffer.removeFirst(end)
        let field = { (name: String) in
            head.dropFirst().first { $0.lowercased().hasPrefix(name + ":") }.map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
        }
        guard field("connection")?.lowercased() == "keep-alive" else {
            while fill() {}
            defer { buffer = [] }
            return (head, buffer)
        }
        let status = head.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        let length = bodiless || status == 204 || status == 304 ? 0 : Int(field("content-length") ?? "0") ?? 0
        while buffer.count < length, fill() {}
        guard buffer.count >= length else { throw RawSocketError(description: "HTTP body cut short") }
        defer { buffer.removeFirst(length) }
        return (head, Array(buffer[..<length]))
    }

    /// Sends masked client text frames (payloads under 126 bytes) in one write, so the server
    /// reads them together, before anything it answers could reach this client.
    func sendTextFrames(_ texts: [String]) throws {
        try write(Self.maskedTextFrames(texts))
    }

    /// Masked client text frames (payloads under 126 bytes), back to back.
    private static func maskedTextFrames(_ texts: [String]) -> [UInt8] {
        let key: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        var bytes: [UInt8] = []
        for text in texts {
            let payload = Array(text.utf8)
            precondition(payload.count < 126, "short frames only")
            bytes += [0x81, 0x80 | UInt8(payload.count)] + key
            bytes += payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
        }
        return bytes
    }

    /// Sends a masked close frame with `code`.
    func sendClose(code: UInt16 = 1000) throws {
        let key: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        let payload = [UInt8(code >> 8), UInt8(code & 0xFF)]
        try write([0x88, 0x82] + key + payload.enumerated().map { $0.element ^ key[$0.offset % 4] })
    }

    /// Reads one unmasked server frame: opcode and payload; nil on EOF or timeout.
    func readFrame() -> (opcode: UInt8, payload: [UInt8])? {
        while true {
            if buffer.count >= 2 {
                var header = 2
                var length = Int(buffer[1] & 0x7F)
                if length == 126, buffer.count >= 4 {
                    length = Int(buffer[2]) << 8 | Int(buffer[3])
                    header = 4
                } else if length == 127, buffer.count >= 10 {
                    length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
                    header = 10
                }
                if length < 126 || header > 2, buffer.count >= header + length {
                    let frame = (buffer[0] & 0x0F, Array(buffer[header..<(header + length)]))
                    buffer.removeFirst(header + length)
                    return frame
                }
            }
            guard fill() else { return nil }
        }
    }

    /// Reads until the server closes the connection, discarding what arrives.
    /// - Returns: true at EOF (or reset), false when a read timed out first.
    func awaitEOF() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { continue }
            if n == 0 { return true }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return false
            default: return true
            }
        }
    }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw RawSocketError(description: "send: errno \(errno)") }
            offset += n
        }
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 3..<buffer.count where buffer[i - 3] == 0x0D && buffer[i - 2] == 0x0A && buffer[i - 1] == 0x0D && buffer[i] == 0x0A {
            return i + 1
        }
        return nil
    }

    /// Reads once into the buffer; false on EOF, error or timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[..<n])
                return true
            }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }
}
