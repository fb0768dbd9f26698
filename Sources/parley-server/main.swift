import Foundation
import Parley
import ParleyProtocol
import ParleyRedisAdapter
import ParleyWebSocket
import Synchronization

/// `parley-server`: the ready-to-run relay (a demo, and the benchmark target), or a raw
/// WebSocket echo server with `--raw-echo`.
let usage = """
    usage: parley-server [options]

    Relay events between clients (the envelope of Protocol.md at --path, Socket.IO v5 clients at
    /socket.io/):
      echo       sent back to the sender (answered as an ack instead when it has an "id")
      broadcast  to everyone but the sender
      all        to everyone
      join/leave data: a room name; acked when asked
      room       data {"room":R,...}: the whole data to R's members but the sender, as "room"

    options:
      --host H              address to bind (default 127.0.0.1; :: for every address)
      --port P              TCP port (default 8887; 0 picks a free one)
      --path P              WebSocket path (default /parley; / with --raw-echo)
      --origins a,b|*       allowed Origin values (default *)
      --max-clients N       most clients at once (default 10000)
      --max-handshakes-per-address N
                            most opening handshakes in progress from one address; more get 503
                            (default 32; load generators on one host need more)
      --ping-interval MS    server ping interval (default 25000; 0 disables)
      --ping-timeout MS     ping answer deadline (default 20000)
      --keep-alive-timeout MS
                            how long an answered HTTP connection (Socket.IO polling, files)
                            waits for its next request (default 5000; 0 closes after each)
      --token T             refuse clients without token=T in the query or, for Socket.IO
                            clients, {"token": T} in the auth payload (connect_error)
      --refusal-limit N/S   after N refusals within S seconds from one address, its upgrades
                            get 429 until the S seconds have passed (default 20/10; off disables)
      --max-payload BYTES   largest message (default 1000000)
      --max-buffered BYTES  budget for client data held by all connections together (partial
                            frames, fragments, send queues); over it the largest holders are
                            closed with 1013 (default: a quarter of memory, at most 1 GiB)
      --loops N             event loop threads (default: one per core it may run on; fewer
                            where other busy processes share the cores)
      --verbose             log connects, disconnects and refusals
      --admin-token T       serve the live admin dashboard at <path>/admin?token=T
      --metrics PATH        serve Prometheus metrics at PATH (e.g. /metrics)
      --redis URL           share broadcasts with other parley-server processes through Redis:
                            redis://[[user]:password@]host[:port][/db], rediss://... for TLS
      --redis-ca FILE       trust this CA (PEM) for rediss:// instead of the system's
      --tls-cert FILE       serve wss:// and https:// with this certificate chain (PEM)...
      --tls-key FILE        ...and its unencrypted private key (PEM); SIGHUP reloads both
      --trusted-proxy A,B   believe X-Forwarded-For/-Proto from these proxy addresses
      --recovery            connection state recovery with its defaults: a client back within
                            2 minutes gets its id, rooms and missed events (Protocol.md 5.5);
                            with --redis, on any node: kept in Redis (Protocol.md 11.1)
      --raw-echo            plain WebSocket echo of every text and binary message instead
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("parley-server: \(message)\n".utf8))
    exit(2)
}

struct Options {
    var configuration = Server.Configuration()
    var pathGiven = false
    var token: String?
    var rawEcho = false
    var redisURL: String?
    var redisCA: String?
    var tlsCertificate: String?
    var tlsKey: String?
}

/// Parses the command line; exits 2 on a usage error.
func parseArguments(_ arguments: [String]) -> Options {
    var options = Options()
    var rest = arguments[...]
    func value(_ flag: String) -> String {
        guard let next = rest.popFirst() else { fail("\(flag) needs a value\n\(usage)") }
        return next
    }
    func number(_ flag: String, _ range: ClosedRange<Int>) -> Int {
        guard let parsed = Int(value(flag)), range.contains(parsed) else { fail("\(flag) takes \(range.lowerBound)...\(range.upperBound)") }
        return parsed
    }
    while let argument = rest.popFirst() {
        switch argument {
        case "--host": options.configuration.host = value(argument)
        case "--port": options.configuration.port = number(argument, 0...65535)
        case "--path":
            options.configuration.path = value(argument)
            options.pathGiven = true
            guard options.configuration.path.hasPrefix("/") else { fail("--path must start with /") }
        case "--origins":
            options.configuration.origins = value(argument).split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) }
        case "--max-clients": options.configuration.maxClients = number(argument, 1...10_000_000)
        case "--max-handshakes-per-address": options.configuration.maxHandshakesPerAddress = number(argument, 1...10_000_000)
        case "--ping-interval":
            let milliseconds = number(argument, 0...86_400_000)
            options.configuration.pingInterval = milliseconds == 0 ? nil : .milliseconds(milliseconds)
        case "--ping-timeout": options.configuration.pingTimeout = .milliseconds(number(argument, 1...86_400_000))
        case "--keep-alive-timeout":
            let milliseconds = number(argument, 0...3_600_000)
            options.configuration.keepAliveTimeout = milliseconds == 0 ? nil : .milliseconds(milliseconds)
        case "--token": options.token = value(argument)
        case "--refusal-limit": options.configuration.refusalLimit = refusalLimit(value(argument))
        case "--max-payload", "--max-message": options.configuration.maxPayload = number(argument, 1...(1 << 30))
        case "--max-buffered": options.configuration.maxBufferedBytes = number(argument, 1...Int.max)
        case "--loops": options.configuration.loopCount = number(argument, 1...1024)
        case "--verbose": options.configuration.verbose = true
        case "--admin-token": options.configuration.admin = .init(token: value(argument))
        case "--metrics": options.configuration.metricsPath = value(argument)
        case "--redis": options.redisURL = value(argument)
        case "--redis-ca": options.redisCA = value(argument)
        case "--tls-cert": options.tlsCertificate = value(argument)
        case "--tls-key": options.tlsKey = value(argument)
        case "--trusted-proxy":
            options.configuration.trustedProxies = value(argument).split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) }
        case "--recovery": options.configuration.connectionStateRecovery = Server.ConnectionStateRecovery()
        case "--raw-echo": options.rawEcho = true
        case "-h", "--help":
            print(usage)
            exit(0)
        default: fail("unknown option \(argument)\n\(usage)")
        }
    }
    if options.rawEcho && !options.pathGiven { options.configuration.path = "/" }
    switch (options.tlsCertificate, options.tlsKey) {
    case (let certificate?, let key?):
        options.configuration.tls = .server(certificateChain: .file(certificate), privateKey: .file(key))
    case (nil, nil): break
    default: fail("--tls-cert and --tls-key go together")
    }
    if let url = options.redisURL {
        let tls = options.redisCA.map { TLSConfiguration(trust: .certificateAuthorities(.file($0))) }
        options.configuration.clusterAdapter = RedisClusterAdapter(url: url, tls: tls)
    } else if options.redisCA != nil {
        fail("--redis-ca needs --redis rediss://...")
    }
    return options
}

/// `N/S` (N refusals per S seconds) or `off`, for `--refusal-limit`; exits 2 otherwise.
func refusalLimit(_ text: String) -> RefusalLimiter.Limit? {
    if text == "off" { return nil }
    let parts = text.split(separator: "/")
    guard parts.count == 2, let count = Int(parts[0]), let seconds = Int(parts[1]), count >= 1, (1...86_400).contains(seconds) else {
        fail("--refusal-limit takes N/SECONDS (e.g. 20/10) or off")
    }
    return RefusalLimiter.Limit(maxRefusals: count, window: .seconds(seconds))
}

/// Registers the relay events on `io`.
func installRelay(on io: Server, token: String?) {
    if let token {
        io.use { handshake in
            // The query (envelope and Socket.IO clients) or the Socket.IO auth payload {"token": T}.
            guard handshake.query("token", matchesSecret: token) || handshake.auth("token", matchesSecret: token) else {
                throw ConnectError("unauthorized")
            }
        }
    }
    io.onConnection { socket in
        socket.on("echo") { (data: RawJSON, ack: Ack) in
            if ack.isRequested { ack(data) } else { try? socket.emit("echo", data) }
        }
        // The arguments as sent: a Socket.IO client's several arguments reach Socket.IO clients
        // as several (on every node), envelope clients as one array.
        socket.on("broadcast") { (arguments: EventArguments) in try? socket.broadcast.emit("broadcast", arguments) }
        socket.on("all") { (arguments: EventArguments) in try? io.emit("all", arguments) }
        socket.on("join") { (room: String, ack: Ack) in
            // Refused joins (a name over the length bound, too many rooms, a socket id) are
            // answered with an error ack naming the limit.
            do {
                try socket.join(room)
                ack()
            } catch {
                ack.fail(String(describing: error))
            }
        }
        socket.on("leave") { (room: String, ack: Ack) in
            socket.leave(room)
            ack()
        }
        socket.on("room") { (data: RawJSON, ack: Ack) in
            // Only the room name is read: the rest of `data`, maybe a megabyte, is relayed as
            // it came, never decoded on the loop.
            guard let room = data.string(forKey: "room") else {
                return ack.fail("room needs data {\"room\":NAME,...}")
            }
            try? socket.to(room).emit("room", data)
            ack()
        }
    }
}

let options = parseArguments(Array(CommandLine.arguments.dropFirst()))

// SIGINT / SIGTERM (and SIGHUP with TLS: reload the certificate): blocked before any thread
// starts, taken by the main thread at the end.
let reload = Mutex<(@Sendable () -> Void)?>(nil)
let signals = options.configuration.tls == nil ? ProcessSignals() : ProcessSignals(onHangUp: { reload.withLock { $0 }?() })

/// Reloads the TLS certificate of `reloadTLS` on SIGHUP, saying what happened.
func reloadOnHangUp(_ reloadTLS: @escaping @Sendable () throws -> Void) {
    reload.withLock {
        $0 = {
            do {
                try reloadTLS()
                print("parley-server: TLS certificate reloaded")
            } catch {
                FileHandle.standardError.write(Data("parley-server: TLS certificate not reloaded, the previous one stays: \(error)\n".utf8))
            }
            fflush(nil)
        }
    }
}

let configuration = options.configuration
let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
let scheme = configuration.tls == nil ? "ws" : "wss"
let stop: @Sendable () async -> Void
do {
    if options.rawEcho {
        var raw = WebSocketServer.Configuration(host: configuration.host, port: configuration.port, path: configuration.path)
        raw.loopCount = configuration.loopCount
        raw.allowedOrigins = configuration.origins
        raw.maxClients = configuration.maxClients
        raw.maxHandshakesPerAddress = configuration.maxHandshakesPerAddress
        raw.keepAliveTimeout = configuration.keepAliveTimeout
        raw.maxBufferedBytes = configuration.maxBufferedBytes
        raw.webSocket.maxFrameSize = configuration.maxPayload
        raw.webSocket.maxMessageSize = configuration.maxPayload
        raw.webSocket.maxBufferedBytes = max(raw.webSocket.maxBufferedBytes, 4 * configuration.maxPayload)
        raw.tls = configuration.tls
        let server = WebSocketServer(configuration: raw) { socket, _ in
            // Bytes in, bytes out: no String or array per message.
            socket.onMessageBytes { socket, opcode, bytes in
                if opcode == .text { socket.send(textUTF8: bytes) } else { socket.send(binary: bytes) }
            }
        }
        let port = try server.start()
        reloadOnHangUp { try server.reloadTLS() }
        print("parley-server: raw echo on \(scheme)://\(host):\(port)\(configuration.path)")
        stop = { await server.shutdown(gracePeriod: .seconds(2)) }
    } else {
        let io = Server(configuration)
        installRelay(on: io, token: options.token)
        let port = try io.start()
        reloadOnHangUp { try io.reloadTLS() }
        var redis = ""
        if let cluster = configuration.clusterAdapter { redis = " (broadcasts shared through \(cluster))" }
        if configuration.connectionStateRecovery != nil { redis += " with connection state recovery" }
        print("parley-server: relay on \(scheme)://\(host):\(port)\(configuration.path)\(redis)")
        stop = { await io.close(gracePeriod: .seconds(2)) }
    }
    fflush(nil)
} catch {
    FileHandle.standardError.write(Data("parley-server: \(error)\n".utf8))
    exit(1)
}

// Wait for SIGINT or SIGTERM, then close every connection (1001) and exit.
signals.waitThenStop(stop)
exit(0)
