#if canImport(Glibc)
#elseif canImport(Darwin)
import Darwin
#endif

extension TLSConfiguration.PEM {
    /// The largest PEM file read: 16 MiB holds any certificate chain or CA bundle (the system
    /// bundle of Debian is about 200 KiB) and bounds what a wrong path can make us read.
    static let maximumFileSize = 16 << 20

    /// The PEM bytes, read from the file if it is one.
    ///
    /// - Parameter what: what the PEM is, for the error message ("certificate chain").
    /// - Throws: ``TLSError/invalidConfiguration`` when the file cannot be read or is too large.
    func load(_ what: String) throws(TLSError) -> [UInt8] {
        switch self {
        case .bytes(let bytes):
            return bytes
        case .file(let path):
            return try Self.readFile(path, what)
        }
    }

    /// Where the PEM comes from, for messages: "file /x/cert.pem" or "PEM bytes".
    var origin: String {
        switch self {
        case .file(let path): "file \(path)"
        case .bytes: "PEM bytes"
        }
    }

    private static func readFile(_ path: String, _ what: String) throws(TLSError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw .invalidConfiguration("cannot read the \(what) file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .invalidConfiguration("cannot read the \(what) file \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return bytes }
            bytes += chunk[..<n]
            guard bytes.count <= maximumFileSize else {
                throw .invalidConfiguration("the \(what) file \(path) is larger than \(maximumFileSize >> 20) MiB: not a PEM file")
            }
        }
    }
}

extension TLSConfiguration {
    /// The ALPN names in wire format: each name preceded by its length (RFC 7301 3.1).
    ///
    /// - Throws: ``TLSError/invalidConfiguration`` for an empty name or one over 255 bytes.
    func alpnWireFormat() throws(TLSError) -> [UInt8] {
        var wire: [UInt8] = []
        for name in applicationProtocols {
            let bytes = Array(name.utf8)
            // RFC 7301 3.1: empty strings MUST NOT be included; a name is at most 255 bytes.
            guard (1...255).contains(bytes.count) else {
                throw .invalidConfiguration("ALPN protocol name \"\(name)\" must be 1 to 255 bytes")
            }
            wire.append(UInt8(bytes.count))
            wire += bytes
        }
        return wire
    }
}
