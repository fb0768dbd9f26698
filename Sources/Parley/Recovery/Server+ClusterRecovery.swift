import Foundation
import ParleyWebSocket
import Synchronization

extension Server.Router {
    /// Applies an entry of a cluster store's ordered log: an emit is numbered with `offset`,
    /// kept and delivered; another operation is applied to this node's sockets.
    func applyOrdered(_ operation: ClusterOperation, offset: String) {
        guard let namespace = namespace(operation.selection.namespace, create: false) else { return }
        if case .emit(let envelope) = operation.action, let recovery = namespace.recovery, let position = RecoveryOffset(offset) {
            return recovery.deliverOrdered(envelope.bytes, selection: operation.selection, offset: position, rooms: namespace.roomStore,
                                           spreadsArguments: envelope.spreadsArguments)
        }
        BroadcastOperator(namespace: namespace, selection: operation.selection, flags: operation.flags).applyLocally(operation.action)
    }

    /// A cluster store reads `namespace`'s ordered log after `offset` from now on.
    func orderedLogStarted(namespace name: String, at offset: String) {
        guard let position = RecoveryOffset(offset) else { return }
        namespace(name, create: false)?.recovery?.startLog(at: position)
    }

    /// The outcome of a connecting client's claim on this node's recovery state: nil when the
    /// namespace keeps no state or the client presents no session token.
    func localRecoveryClaim(_ handshake: Handshake, in namespace: Namespace) -> Result<RecoveryClaim, RecoveryFailure>? {
        namespace.recovery.flatMap { recovery in
            handshake.recoveryToken.map { recovery.claim(token: $0, offset: handshake.recoveryOffset, rooms: namespace.roomStore) }
        }
    }

    /// Messages a connection may send while its session is looked up (Protocol.md 5.1: as
    /// before `connect`); one more closes it with 1008.
    static let maxMessagesWhileClaiming = 64

    /// A connection asking for recovery with a cluster store: its session is asked for (see
    /// ``NamespaceRecovery/claimFromCluster(token:offset:rooms:loop:completion:)``), what it
    /// sends meanwhile is kept (64 messages at most), then the socket is made as usual. A
    /// connection closed meanwhile gives a session it took back to the store.
    func connectAfterClusterClaim(_ connection: WebSocket, handshake: Handshake, namespace: Namespace, recovery: NamespaceRecovery, token: String) {
        struct Waiting {
            var messages: [(Opcode, [UInt8])] = []
            var closed: (CloseCode, String)?
        }
        let waiting = Mutex(Waiting())
        connection.onMessageBytes { connection, opcode, bytes in
            let overflow = waiting.withLock { waiting -> Bool in
                guard waiting.messages.count < Self.maxMessagesWhileClaiming else { return true }
                waiting.messages.append((opcode, Array(bytes)))
                return false
            }
            if overflow { connection.close(code: .policyViolation, reason: "too many messages before connect") }
        }
        connection.onClose { _, code, reason in waiting.withLock { $0.closed = (code, reason) } }
        recovery.claimFromCluster(token: token, offset: handshake.recoveryOffset, rooms: namespace.roomStore, loop: connection.loop) { [weak self] claim in
            let (messages, closed) = waiting.withLock { waiting in
                defer { waiting.messages = [] }
                return (waiting.messages, waiting.closed)
            }
            guard let self, closed == nil else { return recovery.giveBack(claim) }
            let socket = self.connect(connection, handshake: handshake, namespace: namespace, claim: claim)
            for (opcode, bytes) in messages { bytes.withUnsafeBytes { socket.receive(opcode, $0) } }
        }
    }

    /// A Socket.IO client's `CONNECT` asking for recovery with a cluster store: its session is
    /// asked for as an envelope connection's is, then its socket is made. The packets it sends
    /// to the namespace meanwhile are held by the connection (64 at most, see
    /// ``SocketIOConnection/beginClaim(_:)``); its other namespaces go on. A client that left
    /// the namespace or closed meanwhile gives a session it took back to the store.
    func connectAfterClusterClaim(_ connection: SocketIOConnection, handshake: Handshake, namespace: Namespace, recovery: NamespaceRecovery,
                                  token: String) {
        guard connection.beginClaim(namespace.name) else { return }
        recovery.claimFromCluster(token: token, offset: handshake.recoveryOffset, rooms: namespace.roomStore, loop: connection.loop) { [weak self] claim in
            guard let held = connection.endClaim(namespace.name), let self else { return recovery.giveBack(claim) }
            let socket = self.connect(connection, handshake: handshake, namespace: namespace, claim: claim)
            for packet in held { socket.receive(packet) }
        }
    }

    /// Saves the sessions of every connected socket to the cluster's store before the server
    /// shuts down (its clients then recover on another node), waiting 1 s at most. Nothing
    /// without a store.
    func saveSessionsForShutdown() async {
        let recoveries = namespaces.withLock { namespaces in
            namespaces.values.compactMap { namespace in namespace.recovery.map { ($0, namespace.roomStore) } }
        }.filter { $0.0.store != nil }
        guard !recoveries.isEmpty else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waiting = Mutex<CheckedContinuation<Void, Never>?>(continuation)
            let resume: @Sendable () -> Void = { waiting.withLock { $0.take() }?.resume() }
            let remaining = Atomic<Int>(recoveries.count)
            for (recovery, rooms) in recoveries {
                recovery.saveLiveSessions(rooms: rooms) {
                    if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { resume() }
                }
            }
            Task {
                try? await Task.sleep(for: .seconds(1))
                resume()
            }
        }
    }
}
