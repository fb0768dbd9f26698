import Foundation
@_spi(IO) import ParleyIO
import ParleyProtocol
import ParleyWebSocket
import Synchronization

/// One Socket.IO client: an Engine.IO session (long-polling, WebSocket, or polling upgraded to
/// WebSocket) and the sockets of the namespaces it joined over it.
///
/// The session's rules live in ``EngineIOSession``; this class carries out its actions. Every
/// packet from the client is handled on ``loop`` in arrival order (polling requests arrive on
/// any loop and hop there), so a socket's handlers run as for an envelope client. Writes to
/// the WebSocket and answers to polls are made under the engine lock: both only queue bytes,
/// never call back, and the lock keeps packets in the order the session released them.
final class SocketIOConnection: Sendable {
    /// The Engine.IO session id.
    let sessionID: RandomID
    /// Where the sockets' handlers and the session's timers run.
    let loop: EventLoop
    /// The handshake request's query, without Engine.IO's own parameters, and its headers
    /// without the WebSocket mechanics: shared (not copied) by the ``Handshake`` of each
    /// namespace the client joins. The request itself is not kept.
    let query: [String: String]
    let headers: [(name: String, value: String)]
    /// The address of the TCP peer, `ip:port` (for logs).
    let address: String
    /// The client's address and whether it connected over TLS, as its handshakes say (behind a
    /// trusted proxy, from the forwarded fields).
    let client: (address: String, secure: Bool)
    private let endpoint: SocketIOEndpoint

    private struct Engine {
        var session: EngineIOSession
        var webSocket: WebSocket?
        /// Polls waiting for an answer, with the CORS fields of their request.
        var polls: [UInt64: (responder: HTTPResponder, headers: [(name: String, value: String)])] = [:]
        var nextRequest: UInt64 = 0
        var timer: Timer?
        var timerDeadline: UInt64?
    }

    /// The session's one timer: a plain loop timer when armed on the loop (the usual case: an
    /// idle connection holds no more than that), a ``Scheduled`` when armed from another thread.
    private enum Timer {
        case onLoop(TimerID)
        case scheduled(Scheduled)
    }

    private struct Layer {
        /// The sockets of the namespaces joined, in the order joined: the first held inline
        /// and any others (a client on several namespaces) in an array found by a short scan,
        /// so a connection on one namespace allocates nothing for them. `first` is nil only
        /// when there is none.
        var first: Socket?
        var others: [Socket] = []
        var assembler: SocketIOBinaryAssembler
        var closed = false
        /// Namespaces whose session is being claimed from the cluster's recovery store, with
        /// the packets the client sent to them meanwhile (for the socket made once it settles).
        /// Empty but while a recovering client waits.
        var claims: [(namespace: String, packets: [SocketIOPacket])] = []

        func socket(_ namespace: String) -> Socket? {
            if let first, first.namespace.name == namespace { return first }
            return others.first { $0.namespace.name == namespace }
        }

        /// Whether no namespace is joined.
        var isEmpty: Bool { first == nil }

        /// Puts `socket` as the one of `namespace` (nil: removes it).
        mutating func set(_ namespace: String, _ socket: Socket?) {
            if let current = first, current.namespace.name == namespace {
                first = others.isEmpty ? nil : others.removeFirst()
            } else {
                others.removeAll { $0.namespace.name == namespace }
            }
            guard let socket else { return }
            if first == nil { first = socket } else { others.append(socket) }
        }

        /// Every socket, in the order joined; none is left.
        mutating func takeAll() -> [Socket] {
            guard let taken = first else { return [] }
            defer { first = nil; others = [] }
            return [taken] + others
        }
    }

    private let engine: Mutex<Engine>
    private let layer: Mutex<Layer>

    init(sessionID: RandomID, loop: EventLoop, request: HTTPRequestHead, address: String, secure: Bool = false,
         endpoint: SocketIOEndpoint, webSocket: WebSocket?) {
        self.sessionID = sessionID
        self.loop = loop
        self.address = address
        query = Handshake.socketIOQuery(request)
        headers = Handshake.applicationHeaders(request)
        client = endpoint.router.clientOrigin(request, peer: address, secure: secure)
        self.endpoint = endpoint
        let session = EngineIOSession(settings: endpoint.sharedSettings, webSocket: webSocket != nil, now: monotonicNanoseconds())
        engine = Mutex(Engine(session: session, webSocket: webSocket))
        layer = Mutex(Layer(assembler: SocketIOBinaryAssembler(maxBytes: endpoint.maxPayload)))
        engine.withLock { armTimer(&$0) }
    }

    // MARK: Transport input

    /// A `GET` poll (on its connection's loop).
    func poll(_ responder: HTTPResponder, headers: [(name: String, value: String)]) {
        let (id, actions) = engine.withLock { engine -> (UInt64, [EngineIOSession.Action]) in
            engine.nextRequest += 1
            let id = engine.nextRequest
            engine.polls[id] = (responder, headers)
            return (id, perform(engine.session.poll(request: id, now: monotonicNanoseconds()), &engine))
        }
        responder.onCancel { [self] in pollAborted(id) }
        handle(actions)
    }

    private func pollAborted(_ id: UInt64) {
        handle(engine.withLock { engine in
            engine.polls[id] = nil
            return perform(engine.session.pollAborted(request: id), &engine)
        })
    }

    /// A `POST` body: read, answered `ok` (or 400 when it cannot be read, which closes the session).
    func post(_ body: [UInt8], _ responder: HTTPResponder, headers: [(name: String, value: String)]) {
        let packets: [EngineIOPacket]
        do {
            packets = try EngineIOCodec.decodePayload(body)
        } catch {
            responder.respond(SocketIOEndpoint.error(.badRequest, headers: headers))
            handle(engine.withLock { perform($0.session.malformedInput(now: monotonicNanoseconds()), &$0) })
            return
        }
        let actions = engine.withLock { perform($0.session.received(packets, now: monotonicNanoseconds()), &$0) }
        responder.respond(HTTPResponse(status: 200, headers: [("Content-Type", "text/html")] + headers, body: Array("ok".utf8)))
        handle(actions)
    }

    /// A WebSocket that will probe this polling session; false when it cannot be upgraded.
    func startUpgrade() -> Bool {
        let actions = engine.withLock { engine -> [EngineIOSession.Action]? in
            guard let actions = engine.session.webSocketAttached(now: monotonicNanoseconds()) else { return nil }
            return perform(actions, &engine)
        }
        guard let actions else { return false }
        handle(actions)
        return true
    }

    /// The probing (or only) WebSocket is open: read its frames.
    func attach(_ webSocket: WebSocket) {
        engine.withLock { $0.webSocket = webSocket }
        // Strong references: the WebSocket lets go of its handlers once closed, and a weak
        // reference would move this object's reference counts into a side table, which makes
        // every retain of it (one per broadcast target) take the runtime's slow path.
        webSocket.onMessageBytes { [self] socket, opcode, bytes in webSocketMessage(opcode, bytes, from: socket) }
        webSocket.onClose { [self] socket, _, _ in webSocketClosed(socket) }
    }

    /// A message on a WebSocket (on the loop; the bytes are valid during the call only).
    private func webSocketMessage(_ opcode: Opcode, _ bytes: UnsafeRawBufferPointer, from socket: WebSocket) {
        // Once upgraded, a message packet (`4...`) or an attachment means nothing to the
        // session (it delivers them at once, as they came): read where it lies, no copy.
        let upgraded = engine.withLock { $0.webSocket === socket && $0.session.phase == .webSocket }
        if upgraded {
            if opcode == .binary { return receiveBinary(Array(bytes)) }
            if bytes.first == UInt8(ascii: "4") { return receiveText(UnsafeRawBufferPointer(rebasing: bytes.dropFirst())) }
        }
        let packet: EngineIOPacket
        if opcode == .binary {
            packet = .binary(Array(bytes))
        } else {
            guard let decoded = try? EngineIOCodec.decode(text: bytes) else { return close(.parseError) }
            packet = decoded
        }
        handle(engine.withLock { engine in
            guard engine.webSocket === socket else { return [] }
            let now = monotonicNanoseconds()
            let actions = engine.session.phase == .probing ? engine.session.probe(packet, now: now) : engine.session.received([packet], now: now)
            return perform(actions, &engine)
        })
    }

    private func webSocketClosed(_ socket: WebSocket) {
        handle(engine.withLock { engine in
            guard engine.webSocket === socket else { return [] }
            engine.webSocket = nil
            return perform(engine.session.webSocketClosed(), &engine)
        })
    }

    private func tick() {
        handle(engine.withLock { engine in
            engine.timer = nil
            engine.timerDeadline = nil
            return perform(engine.session.tick(now: monotonicNanoseconds()), &engine)
        })
    }

    private func cancel(_ timer: Timer?) {
        switch timer {
        case .scheduled(let scheduled)?: scheduled.cancel()
        case .onLoop(let id)?:
            if loop.inEventLoop { loop.cancel(id) } else { loop.execute { [loop] in loop.cancel(id) } }
        case nil: break
        }
    }

    // MARK: Output

    /// Sends a Socket.IO packet (and its attachments, as binary messages).
    func send(_ packet: SocketIOPacket, volatile: Bool = false) {
        let attachments: [[UInt8]]
        switch packet {
        case .event(_, _, let arguments, _), .ack(_, _, let arguments): attachments = arguments.attachments
        default: attachments = []
        }
        sendMessage(SocketIOCodec.encodeMessage(packet), attachments: attachments, volatile: volatile)
    }

    /// Sends one Engine.IO message (`4` and a Socket.IO packet) and its attachments.
    private func sendMessage(_ message: [UInt8], attachments: [[UInt8]] = [], volatile: Bool = false) {
        // nil: written on the WebSocket, the session unchanged (see `deliver`).
        let actions = engine.withLock { engine -> [EngineIOSession.Action]? in
            if engine.session.phase == .webSocket, let webSocket = engine.webSocket {
                webSocket.send(textUTF8: message)
                for attachment in attachments { webSocket.send(binary: attachment) }
                return nil
            }
            let packets = [EngineIOPacket.message(Array(message.dropFirst()))] + attachments.map { EngineIOPacket.binary($0) }
            return perform(engine.session.send(packets, volatile: volatile), &engine)
        }
        if let actions { handle(actions) }
    }

    /// Sends what a socket would send an envelope client, as the matching Socket.IO packet.
    func send(_ envelope: Envelope, namespace: String) {
        switch envelope {
        case .event(let name, let data, let id):
            send(.event(namespace: namespace, name: name, arguments: EventArguments(data: data), id: id))
        case .ack(let id, let data):
            send(.ack(namespace: namespace, id: id, arguments: EventArguments(data: data)))
        case .ackError(let id, let message):
            // Socket.IO acks carry no error: the failure is one argument, {"error":{"message":...}}.
            var json: [UInt8] = Array(#"{"error":{"message":"#.utf8)
            EnvelopeCodec.appendJSONString(message, to: &json)
            json += Array("}}".utf8)
            send(.ack(namespace: namespace, id: id, arguments: EventArguments(data: RawJSON(unchecked: json))))
        }
    }

    /// One broadcast: the frame (on a WebSocket) or the message (for polls), both encoded once
    /// for every Socket.IO target.
    func deliver(frame: EncodedFrame, message: EngineIOPacket, volatile: Bool) {
        // nil: written on the WebSocket, the session unchanged (no second lock to look at it).
        let actions = engine.withLock { engine -> [EngineIOSession.Action]? in
            if engine.session.phase == .webSocket, let webSocket = engine.webSocket {
                webSocket.send(frame, volatile: volatile)
                return nil
            }
            return perform(engine.session.send([message], volatile: volatile), &engine)
        }
        if let actions { handle(actions) }
    }

    private static func write(_ packet: EngineIOPacket, to webSocket: WebSocket) {
        switch packet {
        case .binary(let bytes): webSocket.send(binary: bytes)
        default: webSocket.send(textUTF8: EngineIOCodec.encode(packet))
        }
    }

    /// Closes the whole connection: every socket of it disconnects.
    /// - Parameter reason: `parseError` for bad input from the client; anything else is a
    ///   server-side close.
    func close(_ reason: DisconnectReason) {
        handle(engine.withLock { engine in
            let now = monotonicNanoseconds()
            let actions = reason == .parseError ? engine.session.malformedInput(now: now) : engine.session.close(now: now)
            return perform(actions, &engine)
        })
    }

    // MARK: Namespaces

    /// A socket created for a `CONNECT`, pending until middleware settles.
    func attach(_ socket: Socket) {
        let closed = layer.withLock { layer -> Bool in
            if !layer.closed { layer.set(socket.namespace.name, socket) }
            return layer.closed
        }
        if closed { socket.finish(.transportClose) }
    }

    /// Starts claiming the session of `namespace` from the cluster's recovery store: until
    /// ``endClaim(_:)``, the packets to that namespace are held
    /// (``Server/Router/maxMessagesWhileClaiming`` at most) and another `CONNECT` to it is ignored.
    /// - Returns: false when the connection is closed, or the namespace is joined or claimed already.
    func beginClaim(_ namespace: String) -> Bool {
        layer.withLock { layer in
            guard !layer.closed, layer.socket(namespace) == nil, !layer.claims.contains(where: { $0.namespace == namespace }) else { return false }
            layer.claims.append((namespace, []))
            return true
        }
    }

    /// The claim of `namespace` settled: the packets held for it, in arrival order; nil when
    /// the client left the namespace or the connection closed meanwhile (nobody takes the session).
    func endClaim(_ namespace: String) -> [SocketIOPacket]? {
        layer.withLock { layer in
            guard let index = layer.claims.firstIndex(where: { $0.namespace == namespace }) else { return nil }
            return layer.claims.remove(at: index).packets
        }
    }

    /// `socket` was accepted with connection state recovery (under the namespace's recovery
    /// lock, on the loop): `CONNECT` with its `sid` and `pid` (the session token; and, for a new
    /// session, the namespace's last `offset`), then the events it missed, each with its
    /// offset as the last argument and, for a several-argument event, its arguments one by one,
    /// as live targets got it.
    func accepted(_ socket: Socket, pid: String, offset: String?, replay: [PacketLog.Packet]) {
        var data: [UInt8] = Array(#"{"sid":"#.utf8)
        EnvelopeCodec.appendJSONString(socket.id, to: &data)
        data += Array(#","pid":"#.utf8)
        EnvelopeCodec.appendJSONString(pid, to: &data)
        if let offset {
            data += Array(#","offset":"#.utf8)
            EnvelopeCodec.appendJSONString(offset, to: &data)
        }
        data.append(UInt8(ascii: "}"))
        send(.connect(namespace: socket.namespace.name, payload: RawJSON(unchecked: data)))
        for packet in replay {
            // The envelope the live targets got: the frame's payload.
            var offset: String?
            let decoded = packet.frame.withPayload { try? EnvelopeCodec.decode($0, offset: &offset) }
            guard case .event(let name, let data, _)? = decoded else { continue }
            let arguments = packet.spreadsArguments ? EventArguments(spreading: data) : EventArguments(data: data)
            sendMessage(SocketIOCodec.encodeMessage(.event(namespace: socket.namespace.name, name: name, arguments: arguments, id: nil),
                                                    offset: offset))
        }
    }

    /// `socket` leaves this connection: `packet` (its `DISCONNECT` or `CONNECT_ERROR`) is sent,
    /// and after a server-side disconnect of the last namespace the connection closes, as the
    /// reference server's `disconnect(true)` does.
    func leave(_ socket: Socket, sending packet: SocketIOPacket) {
        send(packet)
        let empty = layer.withLock { layer -> Bool in
            if layer.socket(socket.namespace.name) === socket { layer.set(socket.namespace.name, nil) }
            return layer.isEmpty
        }
        if empty, case .disconnect = packet { close(.serverNamespaceDisconnect) }
    }

    // MARK: Actions

    /// Carries out the I/O actions (under the engine lock) and returns those for the app.
    private func perform(_ actions: [EngineIOSession.Action], _ engine: inout Engine) -> [EngineIOSession.Action] {
        var forApp: [EngineIOSession.Action] = []
        for action in actions {
            switch action {
            case .answerPoll(let request, let body):
                guard let poll = engine.polls.removeValue(forKey: request) else { continue }
                poll.responder.respond(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; charset=UTF-8")] + poll.headers, body: body))
            case .refusePoll(let request):
                guard let poll = engine.polls.removeValue(forKey: request) else { continue }
                poll.responder.respond(SocketIOEndpoint.error(.badRequest, headers: poll.headers))
            case .send(let packets):
                guard let webSocket = engine.webSocket else { continue }
                for packet in packets { Self.write(packet, to: webSocket) }
            case .closeWebSocket:
                engine.webSocket?.close(code: .normalClosure, reason: "")
                if engine.session.phase != .webSocket { engine.webSocket = nil }
            case .deliver, .closed:
                forApp.append(action)
            }
        }
        if engine.session.phase == .finished {
            cancel(engine.timer)
            engine.timer = nil
            engine.timerDeadline = nil
        } else {
            armTimer(&engine)
        }
        return forApp
    }

    /// Keeps one loop timer at the session's next deadline.
    private func armTimer(_ engine: inout Engine) {
        guard let deadline = engine.session.nextDeadline else { return }
        if let current = engine.timerDeadline, current <= deadline { return }
        cancel(engine.timer)
        let now = monotonicNanoseconds()
        let delay = Duration.nanoseconds(deadline > now ? deadline - now : 0)
        engine.timerDeadline = deadline
        if loop.inEventLoop {
            // Held until it fires or is cancelled (the session's end cancels it); see `attach`.
            engine.timer = .onLoop(loop.schedule(after: delay) { [self] in tick() })
        } else {
            engine.timer = .scheduled(loop.execute(after: delay) { [self] in tick() })
        }
    }

    /// The app's side of actions: messages to the sockets (on the loop), the end of the session.
    /// Once the session is finished, the endpoint forgets it.
    private func handle(_ actions: [EngineIOSession.Action]) {
        for action in actions {
            switch action {
            case .deliver(let packets):
                if loop.inEventLoop { receive(packets) } else { loop.execute { [self] in receive(packets) } }
            case .closed(let reason):
                if loop.inEventLoop { closeSockets(reason) } else { loop.execute { [self] in closeSockets(reason) } }
            default:
                break
            }
        }
        if engine.withLock({ $0.session.phase == .finished }) { endpoint.remove(self) }
    }

    private func closeSockets(_ reason: EngineIOSession.CloseReason) {
        let sockets = layer.withLock { layer -> [Socket] in
            guard !layer.closed else { return [] }
            layer.closed = true
            layer.claims = []
            return layer.takeAll()
        }
        let disconnectReason: DisconnectReason
        switch reason {
        case .transportClose, .queueFull: disconnectReason = .transportClose
        case .transportError: disconnectReason = .transportError
        case .pingTimeout: disconnectReason = .pingTimeout
        case .parseError: disconnectReason = .parseError
        case .serverClose: disconnectReason = .serverNamespaceDisconnect
        }
        for socket in sockets { socket.finish(disconnectReason) }
    }

    /// Engine.IO messages from the client (on the loop): Socket.IO packets to their namespaces.
    private func receive(_ packets: [EngineIOPacket]) {
        for packet in packets {
            switch packet {
            case .message(let text): text.withUnsafeBytes { receiveText($0) }
            case .binary(let bytes): receiveBinary(bytes)
            default: continue
            }
            if layer.withLock({ $0.closed }) { return }
        }
    }

    /// The text of one Engine.IO message (after its `4`), on the loop.
    private func receiveText(_ text: UnsafeRawBufferPointer) {
        route(decoding: { assembler throws(SocketIOError) in try assembler.receive(text: text) })
    }

    /// One binary Engine.IO message (an attachment), on the loop.
    private func receiveBinary(_ bytes: [UInt8]) {
        route(decoding: { assembler throws(SocketIOError) in try assembler.receive(binary: bytes) })
    }

    private func route(decoding read: (inout SocketIOBinaryAssembler) throws(SocketIOError) -> SocketIOPacket?) {
        let decoded: SocketIOPacket?
        do {
            decoded = try layer.withLock { layer throws(SocketIOError) -> SocketIOPacket? in
                guard !layer.closed else { return nil }
                return try read(&layer.assembler)
            }
        } catch {
            endpoint.router.log("parley: socket.io \(sessionID): \(error)")
            return close(.parseError)
        }
        if let decoded { route(decoded) }
    }

    private func route(_ packet: SocketIOPacket) {
        let name = packet.namespace
        let socket = layer.withLock { $0.socket(name) }
        switch packet {
        case .connect(_, let auth):
            // Already joined (or joining, its session perhaps being claimed): ignored.
            guard socket == nil, !layer.withLock({ $0.claims.contains { $0.namespace == name } }) else { return }
            endpoint.router.connect(self, namespace: name, auth: auth)
        case .disconnect:
            // Left while its session was claimed: the claim is dropped.
            guard let socket else { return layer.withLock { $0.claims.removeAll { $0.namespace == name } } }
            layer.withLock { if $0.socket(name) === socket { $0.set(name, nil) } }
            socket.finish(.clientNamespaceDisconnect)
        case .event, .ack:
            guard let socket else { return holdWhileClaiming(packet) }   // or a namespace never joined: ignored
            socket.receive(packet)
        case .connectError:
            return
        }
    }

    /// A packet to a namespace without a socket: held while its session is claimed (one past
    /// the bound closes the connection as bad input), else ignored.
    private func holdWhileClaiming(_ packet: SocketIOPacket) {
        let overflow = layer.withLock { layer -> Bool in
            guard let index = layer.claims.firstIndex(where: { $0.namespace == packet.namespace }) else { return false }
            guard layer.claims[index].packets.count < Server.Router.maxMessagesWhileClaiming else { return true }
            layer.claims[index].packets.append(packet)
            return false
        }
        if overflow {
            endpoint.router.log("parley: socket.io \(sessionID): too many packets before connect")
            close(.parseError)
        }
    }
}
