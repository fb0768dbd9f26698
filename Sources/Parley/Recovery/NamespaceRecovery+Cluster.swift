import Foundation
import ParleyProtocol
import ParleyWebSocket
import Synchronization

extension NamespaceRecovery {
    /// Delays between asking the store again for a session it does not have yet: the node the
    /// client left may not have noticed the loss (and saved the session) when the client
    /// reaches this one. 100 + 200 + 400 ms: a loss seen within 0.7 s is recovered; a forged
    /// or expired token costs its client that long before its fresh session.
    static let sessionRetryDelays: [Duration] = [.milliseconds(100), .milliseconds(200), .milliseconds(400)]

    /// Claims the session of `token` for a client connecting with it, when a cluster store
    /// holds sessions: a socket of this node with the token hands it over at once; otherwise
    /// the store is asked (with, when this node's log does not reach back to `offset`, the
    /// events after it). `completion` runs once on `loop`, within
    /// ``Server/ConnectionStateRecovery/clusterLookupTimeout``: `recovery unavailable` when the
    /// store fails or is late.
    func claimFromCluster(token: String, offset text: String?, rooms: RoomStore, loop: EventLoop,
                          completion: @escaping @Sendable (Result<RecoveryClaim, RecoveryFailure>) -> Void) {
        if let here = claimHere(token: token, offset: text, rooms: rooms) {
            return loop.inEventLoop ? completion(here) : loop.execute { completion(here) }
        }
        guard let store else { return completion(.failure(.unknownSession)) }
        let settled = Atomic<Bool>(false)
        let settle: @Sendable (Result<RecoveryClaim, RecoveryFailure>) -> Void = { result in
            guard !settled.exchange(true, ordering: .acquiringAndReleasing) else { return }
            loop.execute { completion(result) }
        }
        let deadline = loop.execute(after: settings.clusterLookupTimeout) { settle(.failure(.unavailable)) }
        let offset = text.flatMap { RecoveryOffset($0) }
        // Only the session when this node's log has every event after the offset (or when the
        // offset is none: no replay can be made from it anyway).
        let askEvents = offset.map { !coversLocally($0) } ?? false
        let window = settings.maxDisconnectionDuration
        let namespace = self.namespace
        let delays = Self.sessionRetryDelays
        @Sendable func ask(_ attempt: Int) {
            store.takeSession(namespace: namespace, token: token, eventsAfter: askEvents ? offset?.text(cluster: true) : nil) { [weak self] result in
                guard let self, !settled.load(ordering: .acquiring) else { return }
                switch result {
                case .failure:
                    deadline.cancel()
                    settle(.failure(.unavailable))
                case .success(let lookup):
                    guard let session = lookup.session else {
                        guard attempt < delays.count else {
                            deadline.cancel()
                            return settle(.failure(.unknownSession))
                        }
                        loop.execute(after: delays[attempt]) { ask(attempt + 1) }
                        return
                    }
                    deadline.cancel()
                    settle(self.claim(from: session, lookup.events, offset: offset, window: window))
                }
            }
        }
        ask(0)
    }

    /// A claim nobody got (its client left while it was looked up): the session goes back to
    /// the store for the client's next attempt.
    func giveBack(_ claim: Result<RecoveryClaim, RecoveryFailure>) {
        guard case .success(let taken) = claim, let store else { return }
        store.saveSession(clusterSession(taken.session), expiry: settings.maxDisconnectionDuration)
    }

    /// A claim from what the store gave: the session (unless its window is over) and the
    /// events it fetched.
    private func claim(from stored: ClusterRecoverySession, _ events: ClusterRecoveryLookup.Events, offset: RecoveryOffset?,
                       window: Duration) -> Result<RecoveryClaim, RecoveryFailure> {
        let nowMilliseconds = Int64(Date().timeIntervalSince1970 * 1000)
        let away = Duration.milliseconds(max(0, nowMilliseconds - stored.disconnectedAt))
        guard away <= window else { return .failure(.sessionExpired) }
        guard let offset else { return .failure(.packetsNotKept) }
        let session = SessionStore.Session(token: stored.token, id: stored.id, rooms: Set(stored.rooms),
                                           data: Self.socketData(json: stored.data), disconnected: .now - away)
        switch events {
        case .notAsked:
            return .success(RecoveryClaim(session: session, offset: offset))
        case .noLongerKept:
            return .failure(.packetsNotKept)
        case .kept(let entries):
            let now = ContinuousClock.now
            var fetched: [PacketLog.Packet] = []
            var last = offset
            for (text, operation) in entries {
                guard let entryOffset = RecoveryOffset(text), entryOffset > last else { return .failure(.packetsNotKept) }
                last = entryOffset
                guard case .emit(let envelope) = operation.action else { continue }
                let bytes = EnvelopeCodec.appendingOffset(text, to: envelope.bytes)
                let frame = bytes.withUnsafeBytes { EncodedFrame(opcode: .text, payload: $0) }
                fetched.append(PacketLog.Packet(offset: entryOffset, selection: operation.selection, frame: frame, size: bytes.count, time: now,
                                                spreadsArguments: envelope.spreadsArguments))
            }
            return .success(RecoveryClaim(session: session, offset: offset, fetched: fetched))
        }
    }

    /// The session as the store keeps it.
    func clusterSession(_ session: SessionStore.Session) -> ClusterRecoverySession {
        let disconnectedAt = Int64(Date().timeIntervalSince1970 * 1000) - Self.milliseconds(ContinuousClock.now - session.disconnected)
        return ClusterRecoverySession(namespace: namespace, token: session.token, id: session.id, rooms: session.rooms.sorted(),
                                      data: Self.json(session.data), disconnectedAt: disconnectedAt)
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// `data` as a JSON object of its values that JSON can carry.
    static func json(_ data: SocketData) -> String {
        var object: [String: Any] = [:]
        for (key, value) in data.snapshot where JSONSerialization.isValidJSONObject([value]) {
            object[key] = value
        }
        guard let bytes = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The values of a JSON object, as Swift values: strings, `Int` for integers, `Double`,
    /// `Bool`, `NSNull`, arrays and dictionaries of them.
    static func socketData(json: String) -> SocketData {
        let data = SocketData()
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return data }
        for (key, value) in object { data[key] = sendable(value) }
        return data
    }

    private static func sendable(_ value: Any) -> any Sendable {
        switch value {
        case let dictionary as [String: Any]: return dictionary.mapValues { sendable($0) }
        case let array as [Any]: return array.map { sendable($0) }
        case let string as String: return string
        case let number as NSNumber:
            // JSON true and false arrive as a boolean NSNumber.
            if "\(type(of: number))".contains("Boolean") { return number.boolValue }
            let double = number.doubleValue
            if double == double.rounded(), abs(double) < 9e15 { return Int(double) }
            return double
        default: return NSNull()
        }
    }
}
