import ParleyProtocol
import ParleyWebSocket

// The Socket.IO dialect (Options.protocol = .socketIO): Engine.IO v4 over a WebSocket, one
// Socket.IO v5 namespace per client. Protocol.md section 12 describes the packets.
//
//   server: 0{"sid":...,"pingInterval":25000,"pingTimeout":20000,...}   Engine.IO open
//   client: 40/nsp,{auth}                                               CONNECT
//   server: 40/nsp,{"sid":...}  or  44/nsp,{"message":...,"data":...}   accepted / refused
//   server: 2   client: 3                                               heartbeat
//   either: 42/nsp,12["event",...]  43/nsp,12[...]  451-[...] + binary  events, acks, binary
//   either: 41/nsp,                                                     DISCONNECT

/// The Engine.IO session of one transport (one connection attempt), kept under the client's lock.
struct SocketIOSession: Sendable {
    /// The attempt it belongs to; news of another is stale.
    var generation: UInt64 = 0
    /// Set by the Engine.IO open packet (milliseconds there; nil when 0 or absent).
    var pingInterval: Duration?
    var pingTimeout: Duration?
    /// The server accepted the namespace: leaving must say so with a DISCONNECT.
    var joined = false
    /// The session id (`pid`) this attempt asked to recover, if any.
    var sentPid: String?
    /// Joins binary packets and their attachments.
    var assembler = SocketIOBinaryAssembler(maxBytes: SocketIOSession.maxAttachmentBytes)

    /// The most attachment bytes of one binary packet from the server. 8 MiB: eight maximum-size
    /// WebSocket messages (the client takes 1 MiB each), far beyond any event's usual buffers,
    /// and a bound on what a server can make the client hold before the packet is complete.
    static let maxAttachmentBytes = 8 << 20
}

extension Client {
    /// The namespace of ``Options/namespace`` as Socket.IO writes it (with its leading `/`).
    var socketIONamespace: String {
        options.namespace.hasPrefix("/") ? options.namespace : "/" + options.namespace
    }

    /// The Engine.IO WebSocket URL for `url`: `http`/`https` become `ws`/`wss`, the path
    /// `/socket.io/` unless the URL gives one, then `EIO=4&transport=websocket` and `query`.
    static func socketIOURL(_ url: String, query: [String: String]) -> String {
        var base = url
        if base.hasPrefix("http://") {
            base = "ws://" + base.dropFirst("http://".count)
        } else if base.hasPrefix("https://") {
            base = "wss://" + base.dropFirst("https://".count)
        }
        let authority = base.range(of: "://").map(\.upperBound) ?? base.startIndex
        let pathStart = base[authority...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? base.endIndex
        let pathEnd = base[pathStart...].firstIndex { $0 == "?" || $0 == "#" } ?? base.endIndex
        if base[pathStart..<pathEnd].isEmpty || base[pathStart..<pathEnd] == "/" {
            base.replaceSubrange(pathStart..<pathEnd, with: "/socket.io/")
        }
        var items = query
        items["EIO"] = EngineIOCodec.protocolVersion
        items["transport"] = "websocket"
        return connectURL(base, query: items, namespace: "/")
    }

    /// One WebSocket message from a Socket.IO server (on the transport's loop, in order).
    func receivedSocketIO(_ message: WebSocketMessage, from socket: WebSocket, generation: UInt64) {
        let now = ContinuousClock.now
        let assembled: Result<SocketIOPacket?, SocketIOError>
        switch message {
        case .text(let text):
            let packet: EngineIOPacket
            do {
                packet = try EngineIOCodec.decode(text: Array(text.utf8))
            } catch {
                return refuse(socket, error, generation: generation)
            }
            switch packet {
            case .open(let handshake):
                return opened(handshake, on: socket, generation: generation, now: now)
            case .ping(let data):
                // Engine.IO v4: the server pings, the client answers with the same data.
                socket.send(textUTF8: EngineIOCodec.encode(.pong(data)))
                return heard(generation: generation)
            case .close:
                // The server ends the session: the transport's close drives the reconnection.
                socket.close()
                return
            case .pong, .upgrade, .noop, .binary:
                return heard(generation: generation)
            case .message:
                assembled = assemble(packet, generation: generation, now: now)
            }
        case .binary(let bytes):
            assembled = assemble(.binary(bytes), generation: generation, now: now)
        }
        switch assembled {
        case .failure(let error): refuse(socket, error, generation: generation)
        case .success(let packet?): received(packet, from: socket, generation: generation, now: now)
        case .success(nil): break
        }
    }

    /// The Engine.IO handshake: keeps the ping settings, then asks to join the namespace.
    private func opened(_ handshake: RawJSON, on socket: WebSocket, generation: UInt64, now: ContinuousClock.Instant) {
        struct Open: Decodable {
            var pingInterval: Int64?
            var pingTimeout: Int64?
        }
        let open = try? handshake.decode(Open.self)
        let current = state.withLock { state -> (Bool, pid: String?, offset: String?) in
            guard state.machine.generation == generation, case .connecting = state.machine.phase else { return (false, nil, nil) }
            var session = SocketIOSession(generation: generation)
            if let interval = open?.pingInterval, interval > 0 { session.pingInterval = .milliseconds(interval) }
            if let timeout = open?.pingTimeout, timeout > 0 { session.pingTimeout = .milliseconds(timeout) }
            session.sentPid = state.recoveryToken
            state.socketIO = session
            return (true, state.recoveryToken, state.lastOffset)
        }
        guard current.0 else { return }
        let auth = Self.socketIOAuth(options.socketIOAuth, pid: current.pid, offset: current.offset)
        _ = Self.transmit(Frames(socketIO: .connect(namespace: socketIONamespace, payload: auth)), on: socket, volatile: false)
    }

    /// The `auth` of a `CONNECT`: the application's, with `pid` and `offset` added to ask for
    /// the previous session back (Socket.IO 4.6's connection state recovery).
    static func socketIOAuth(_ auth: RawJSON?, pid: String?, offset: String?) -> RawJSON? {
        guard let pid, let offset else { return auth }
        var json: [UInt8] = Array(#"{"pid":"#.utf8)
        EnvelopeCodec.appendJSONString(pid, to: &json)
        json += Array(#","offset":"#.utf8)
        EnvelopeCodec.appendJSONString(offset, to: &json)
        // The application's object, its own keys after these (an object: `{` then its members).
        if let bytes = auth?.bytes, let open = bytes.firstIndex(where: { !Self.isJSONWhitespace($0) }), bytes[open] == UInt8(ascii: "{"),
           let inner = bytes[(open + 1)...].firstIndex(where: { !Self.isJSONWhitespace($0) }), bytes[inner] != UInt8(ascii: "}") {
            json.append(UInt8(ascii: ","))
            json += bytes[inner...]
        } else {
            json.append(UInt8(ascii: "}"))
        }
        return RawJSON(unchecked: json)
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// Feeds a message to this transport's binary assembler (under the lock).
    private func assemble(_ message: EngineIOPacket, generation: UInt64, now: ContinuousClock.Instant) -> Result<SocketIOPacket?, SocketIOError> {
        state.withLock { state in
            state.machine.heard(generation: generation, now: now)
            // Before the open packet, or after the client moved on: nothing to assemble for.
            guard state.socketIO.generation == generation, state.machine.generation == generation else { return .success(nil) }
            return Result { () throws(SocketIOError) -> SocketIOPacket? in
                switch message {
                case .message(let text): return try state.socketIO.assembler.receive(text: text)
                case .binary(let bytes): return try state.socketIO.assembler.receive(binary: bytes)
                default: return nil
                }
            }
        }
    }

    /// One Socket.IO packet. Packets of other namespaces are not this client's: ignored.
    private func received(_ packet: SocketIOPacket, from socket: WebSocket, generation: UInt64, now: ContinuousClock.Instant) {
        let namespace = socketIONamespace
        guard packet.namespace == namespace else { return }
        switch packet {
        case .connect(_, let payload):
            struct Accepted: Decodable { var sid: String?; var pid: String?; var offset: String? }
            let accepted = try? (payload ?? .null).decode(Accepted.self)
            let id = accepted?.sid ?? ""
            update { state, effects in
                guard state.socketIO.generation == generation else { return }
                if case .connecting = state.machine.phase {
                    // Recovery (Socket.IO 4.6): the session continues when the server answers with
                    // the pid this attempt sent; a new session starts at the offset it gives.
                    let recovered = accepted?.pid != nil && accepted?.pid == state.socketIO.sentPid
                    state.recoveryToken = accepted?.pid
                    state.recovered = recovered
                    state.recoveryFailure = state.socketIO.sentPid != nil && !recovered ? "session not recovered" : nil
                    if !recovered { state.lastOffset = accepted?.offset }
                }
                let session = Machine.Session(id: id, pingInterval: state.socketIO.pingInterval, pingTimeout: state.socketIO.pingTimeout)
                let actions = state.machine.accepted(session, generation: generation, now: now)
                if state.machine.isConnected { state.socketIO.joined = true }
                apply(actions, to: &state, &effects)
            }
        case .connectError(_, let payload):
            let refusal = Self.refusal(from: payload)
            drive { $0.refused(message: refusal.message, data: refusal.data, generation: generation) }
        case .disconnect:
            update { state, effects in
                if state.socketIO.generation == generation { state.socketIO.joined = false }
                apply(state.machine.serverDisconnected(generation: generation), to: &state, &effects)
            }
        case .event(_, let name, var arguments, let id):
            let deliver = state.withLock { state -> Bool in
                guard state.machine.generation == generation, state.machine.isConnected else { return false }
                // With recovery, a kept event's last argument is its offset (a string): taken off
                // and remembered. Events asking for an ack are never kept, so carry none.
                if state.recoveryToken != nil, id == nil, let offset = arguments.removingLastString() {
                    state.lastOffset = offset
                }
                let event = ClientEvent.event(name: name, data: arguments.data,
                                              ack: Ack(id: id, transport: socket, socketIONamespace: namespace, arguments: arguments))
                return Self.queue(event, &state)
            }
            if deliver { deliverPending() }
        case .ack(_, let id, let arguments):
            answer(id, .success(arguments.data), generation: generation, now: now)
        }
    }

    /// Bytes that are not Engine.IO or Socket.IO (or attachments out of bounds): the transport is
    /// closed with a protocol error, and the client reconnects as after any transport error.
    private func refuse(_ socket: WebSocket, _ error: SocketIOError, generation: UInt64) {
        options.logger.warning("parley client: closing the connection: \(error)", metadata: ["url": url])
        socket.close(code: .protocolError, reason: "parse error")
    }

    /// Says DISCONNECT before the transport of a joined namespace is closed (under the lock).
    func leaveNamespace(on transport: WebSocket, _ state: inout State) {
        guard options.protocol == .socketIO, state.socketIO.joined else { return }
        state.socketIO.joined = false
        _ = Self.transmit(Frames(socketIO: .disconnect(namespace: socketIONamespace)), on: transport, volatile: false)
    }

    /// A failure answer to a Socket.IO server (its acknowledgements carry no error): one argument
    /// `{"error":{"message":...}}`, as a Parley server writes it.
    static func socketIOError(_ message: String) -> RawJSON {
        var json = Array(#"{"error":{"message":"#.utf8)
        EnvelopeCodec.appendJSONString(message, to: &json)
        json += Array("}}".utf8)
        return RawJSON(unchecked: json)
    }
}
