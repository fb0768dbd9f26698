import Foundation
import ParleyWebSocket

/// `parley-server`: the reference server. For now it runs the raw WebSocket echo mode.
let usage = """
    usage: parley-server --raw-echo [--host H] [--port P] [--path /] [--loops N]

      --raw-echo   echo every text and binary message back to its sender
      --host H     address to bind (default 127.0.0.1; :: for every address)
      --port P     TCP port (default 8887; 0 picks a free one)
      --path P     WebSocket path (default /)
      --loops N    event loop threads (default: one per core)
      --max-message BYTES
                   largest frame and message accepted (default 1048576); the send
                   queue bound grows to four such messages
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("parley-server: \(message)\n".utf8))
    exit(2)
}

/// Parses the command line into a server configuration; exits 2 on a usage error.
func parseArguments(_ arguments: [String]) -> WebSocketServer.Configuration {
    var configuration = WebSocketServer.Configuration()
    var rawEcho = false
    var rest = arguments[...]
    func value(_ flag: String) -> String {
        guard let next = rest.popFirst() else { fail("\(flag) needs a value\n\(usage)") }
        return next
    }
    while let argument = rest.popFirst() {
        switch argument {
        case "--raw-echo": rawEcho = true
        case "--host": configuration.host = value(argument)
        case "--port":
            guard let port = Int(value(argument)), (0...65535).contains(port) else { fail("--port takes 0...65535") }
            configuration.port = port
        case "--path":
            configuration.path = value(argument)
            guard configuration.path.hasPrefix("/") else { fail("--path must start with /") }
        case "--loops":
            guard let loops = Int(value(argument)), loops > 0 else { fail("--loops takes a positive number") }
            configuration.loopCount = loops
        case "--max-message":
            guard let bytes = Int(value(argument)), bytes > 0 else { fail("--max-message takes a positive number of bytes") }
            configuration.webSocket.maxFrameSize = bytes
            configuration.webSocket.maxMessageSize = bytes
            configuration.webSocket.maxBufferedBytes = max(configuration.webSocket.maxBufferedBytes, 4 * bytes)
        case "-h", "--help":
            print(usage)
            exit(0)
        default: fail("unknown option \(argument)\n\(usage)")
        }
    }
    guard rawEcho else { fail("choose a mode\n\(usage)") }
    return configuration
}

let configuration = parseArguments(Array(CommandLine.arguments.dropFirst()))
let server = WebSocketServer(configuration: configuration) { socket, _ in
    socket.onMessage { socket, message in socket.send(message) }
}
// SIGINT / SIGTERM are blocked in every thread (the loop threads inherit this mask) and taken
// by the main thread with sigwait. No Dispatch machinery is involved: it would open its own
// descriptors lazily and crash if clients had taken them all.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
do {
    let port = try server.start()
    let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
    print("parley-server: raw echo on ws://\(host):\(port)\(configuration.path)")
    fflush(nil)
} catch {
    FileHandle.standardError.write(Data("parley-server: \(error)\n".utf8))
    exit(1)
}

// Wait for SIGINT or SIGTERM, then close every connection with 1001 and exit.
var received: Int32 = 0
sigwait(&stopSignals, &received)
let stopped = DispatchSemaphore(value: 0)
Task.detached {
    await server.shutdown(gracePeriod: .seconds(2))
    stopped.signal()
}
stopped.wait()
exit(0)
