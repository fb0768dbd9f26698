import Foundation
import Parley
import ParleyWebSocket
import Synchronization

// chat-server: the Parley chat example. One process serves the page, its styles and script,
// parley.js (at /parley/parley.js: no CDN, works offline) and the WebSocket at /parley.
//
//     swift run chat-server                 # then open http://localhost:8887/ in two tabs
//     swift run chat-server --port 9000 --host 0.0.0.0
//     swift run chat-server --tls-cert cert.pem --tls-key key.pem   # https://localhost:8887/

let usage = """
    usage: chat-server [--port P] [--host H] [--verbose] [--admin-token T] [--tls-cert FILE --tls-key FILE]

      --port P     TCP port (default 8887; 0 picks a free one)
      --host H     address to bind (default 127.0.0.1; 0.0.0.0 or :: for every address)
      --verbose    log connects, disconnects and refusals
      --recovery-window S  how long a dropped page may come back without missing anything
                   (default 120 seconds; 0 turns connection state recovery off)
      --admin-token T  serve the live admin dashboard at /parley/admin?token=T
      --tls-cert FILE  serve https:// and wss:// with this certificate chain (PEM)...
      --tls-key FILE   ...and its unencrypted key (PEM); SIGHUP reloads both
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("chat-server: \(message)\n".utf8))
    exit(2)
}

var configuration = Server.Configuration(host: "127.0.0.1", port: 8887, path: "/parley")
// Chat lines are at most 500 characters: 16 KiB covers any legitimate envelope, and a client
// sending more is closed (1009) before the server reads it.
configuration.maxPayload = 16 * 1024
// A page whose connection drops (a train tunnel, a phone switching networks) and comes back
// within 2 minutes continues its session: the messages it missed, in order, each once.
configuration.connectionStateRecovery = .init()
var tlsFiles: (certificate: String?, key: String?) = (nil, nil)
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--port":
        guard let value = arguments.popFirst(), let port = Int(value), (0...65535).contains(port) else { fail("--port takes 0...65535") }
        configuration.port = port
    case "--host":
        guard let host = arguments.popFirst() else { fail("--host needs an address") }
        configuration.host = host
    case "--verbose": configuration.verbose = true
    case "--recovery-window":
        guard let value = arguments.popFirst(), let seconds = Int(value), seconds >= 0 else { fail("--recovery-window takes seconds") }
        configuration.connectionStateRecovery?.maxDisconnectionDuration = .seconds(seconds)
        if seconds == 0 { configuration.connectionStateRecovery = nil }
    case "--admin-token":
        guard let token = arguments.popFirst(), !token.isEmpty else { fail("--admin-token needs a token") }
        configuration.admin = .init(token: token)
    case "--tls-cert":
        guard let file = arguments.popFirst() else { fail("--tls-cert needs a PEM file") }
        tlsFiles.certificate = file
    case "--tls-key":
        guard let file = arguments.popFirst() else { fail("--tls-key needs a PEM file") }
        tlsFiles.key = file
    case "-h", "--help":
        print(usage)
        exit(0)
    default: fail("unknown option \(argument)\n\(usage)")
    }
}

switch tlsFiles {
case (let certificate?, let key?): configuration.tls = .server(certificateChain: .file(certificate), privateKey: .file(key))
case (nil, nil): break
default: fail("--tls-cert and --tls-key go together")
}

// The page and its files: compiled in from Examples/Chat/Public (one source each).
configuration.routes["/"] = .resource(PackageResources.index_html, contentType: "text/html; charset=utf-8")
configuration.routes["/chat.css"] = .resource(PackageResources.chat_css, contentType: "text/css; charset=utf-8")
configuration.routes["/chat.js"] = .resource(PackageResources.chat_js, contentType: "text/javascript; charset=utf-8")

// SIGINT / SIGTERM: blocked before any thread starts, taken by the main thread at the end.
// SIGHUP, with TLS: load the renewed certificate for new connections.
let server = Mutex<Server?>(nil)
let signals = configuration.tls == nil ? ProcessSignals() : ProcessSignals(onHangUp: {
    do {
        try server.withLock { $0 }?.reloadTLS()
        print("chat-server: TLS certificate reloaded")
    } catch {
        FileHandle.standardError.write(Data("chat-server: TLS certificate not reloaded: \(error)\n".utf8))
    }
    fflush(nil)
})

let io = Server(configuration)
server.withLock { $0 = io }
let chat = Chat(on: io, rooms: ["general", "random", "swift"],
                recoveryWindow: configuration.connectionStateRecovery?.maxDisconnectionDuration)
do {
    let port = try io.start()
    let host = configuration.host == "127.0.0.1" || configuration.host == "0.0.0.0" || configuration.host == "::" ? "localhost" : configuration.host
    print("chat-server: open \(configuration.tls == nil ? "http" : "https")://\(host):\(port)/ (rooms: \(chat.rooms.joined(separator: ", ")))")
    fflush(nil)
} catch {
    fail("\(error)")
}

signals.waitThenStop { await io.close(gracePeriod: .seconds(2)) }
exit(0)
