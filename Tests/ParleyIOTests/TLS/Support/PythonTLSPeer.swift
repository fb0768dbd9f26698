import Foundation
import XCTest

/// A TLS peer nobody here wrote: Python's `ssl` module (OpenSSL underneath, but its own
/// configuration and state machine), as a server that echoes or a client that uploads and
/// downloads, in a child process.
final class PythonTLSPeer {
    private static let script = #"""
import socket, ssl, sys

args = sys.argv[1:]
mode = args.pop(0)
options = dict(zip(args[::2], args[1::2]))
size = int(options.get("--size", "0"))

def pattern(count):
    # The pattern repeats every 65536 bytes.
    block = bytes((i * 31 + (i >> 8)) & 0xFF for i in range(min(count, 65536)))
    return (block * (count // 65536 + 1))[:count]

def configure(ctx):
    if "--alpn" in options:
        ctx.set_alpn_protocols(options["--alpn"].split(","))
    if options.get("--max") == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2

if mode == "server":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(options["--cert"], options["--key"])
    configure(ctx)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    print(listener.getsockname()[1], flush=True)
    raw, _ = listener.accept()
    raw.settimeout(10)
    try:
        conn = ctx.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError) as error:
        print("handshake-error", error, flush=True)
        sys.exit(0)
    print("established", conn.version(), conn.selected_alpn_protocol(), flush=True)
    echoed = 0
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data)
        echoed += len(data)
    conn.unwrap()
    print("echoed", echoed, flush=True)
else:
    ctx = ssl.create_default_context(cafile=options["--ca"])
    configure(ctx)
    if "--cert" in options:
        ctx.load_cert_chain(options["--cert"], options["--key"])
    raw = socket.create_connection(("127.0.0.1", int(options["--port"])), timeout=10)
    try:
        conn = ctx.wrap_socket(raw, server_hostname=options.get("--name", "localhost"))
    except (ssl.SSLError, OSError) as error:
        print("handshake-error", error, flush=True)
        sys.exit(0)
    print("established", conn.version(), conn.selected_alpn_protocol(), flush=True)
    upload = pattern(size)
    conn.sendall(upload)
    received = bytearray()
    while len(received) < size:
        data = conn.recv(65536)
        if not data:
            break
        received += data
    print("download", "intact" if bytes(received) == upload[::-1] else "corrupt", len(received), flush=True)
    conn.unwrap()
    print("closed", flush=True)
"""#

    private let process = Process()
    private let output = Pipe()
    private var buffered: [UInt8] = []

    /// Starts `python3` with `arguments` ("server" or "client", then `--option value` pairs).
    /// - Throws: `XCTSkip` without python3 (a failure when `CI` is set).
    init(_ arguments: [String]) throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            if ProcessInfo.processInfo.environment["CI"] == nil { throw XCTSkip("python3 is not installed; set CI=1 to make this a failure") }
            throw TLSLoopback.Failure(description: "python3 is not installed")
        }
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", Self.script] + arguments
        process.standardOutput = output
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    /// The next line the peer prints ("" at its end). The script bounds every wait by 10 s.
    func line() -> String {
        while true {
            if let newline = buffered.firstIndex(of: 10) {
                let line = String(decoding: buffered[..<newline], as: UTF8.self)
                buffered.removeSubrange(...newline)
                return line
            }
            let data = output.fileHandleForReading.availableData
            if data.isEmpty {
                defer { buffered = [] }
                return String(decoding: buffered, as: UTF8.self)
            }
            buffered += data
        }
    }

    /// Waits for the peer to exit.
    func wait() {
        process.waitUntilExit()
    }
}
