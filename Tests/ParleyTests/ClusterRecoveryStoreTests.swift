import Foundation
import Parley
import ParleyTestSupport
import Synchronization
import TestSupport
import XCTest

/// A cluster recovery store written against Parley's public API only: two servers in one
/// process share an in-memory ordered log and session table. A client cut from one server
/// recovers on the other, as with Redis (Protocol.md 11.1).
final class ClusterRecoveryStoreTests: XCTestCase {
    /// The shared log and sessions; each server gets its own ``Node``.
    final class Hub: Sendable {
        private struct State {
            var nodes: [ObjectIdentifier: ClusterContext] = [:]
            var entries: [(offset: String, operation: ClusterOperation)] = []
            var sessions: [String: ClusterRecoverySession] = [:]
        }
        private let state = Mutex(State())

        final class Node: ClusterAdapter, ClusterRecoveryStore {
            let hub: Hub
            init(hub: Hub) { self.hub = hub }

            func start(_ context: ClusterContext) throws {
                let last = hub.state.withLock { state in
                    state.nodes[ObjectIdentifier(self)] = context
                    return state.entries.last?.offset ?? "0-0"
                }
                context.orderedLogStarted(namespace: "/", at: last)
            }
            func register(namespace: String) {}
            func publish(_ operation: ClusterOperation) {
                let others = hub.state.withLock { $0.nodes.filter { $0.key != ObjectIdentifier(self) }.map(\.value) }
                for context in others { context.loop.execute { context.apply(operation) } }
            }
            func stop() { hub.state.withLock { $0.nodes[ObjectIdentifier(self)] = nil } }

            func enableRecovery(keeping maxEntries: Int) {}

            /// Numbers the operation `1-N` and hands it to every node's loop in that order; the
            /// room operations of its own node are not handed back.
            func append(_ operation: ClusterOperation, lost: @escaping @Sendable () -> Void) -> Bool {
                var isEmit = false
                if case .emit = operation.action { isEmit = true }
                hub.state.withLock { state in
                    let offset = "1-\(state.entries.count + 1)"
                    state.entries.append((offset, operation))
                    for (node, context) in state.nodes where isEmit || node != ObjectIdentifier(self) {
                        context.loop.execute { context.applyOrdered(operation, offset: offset) }
                    }
                }
                return true
            }

            func saveSession(_ session: ClusterRecoverySession, expiry: Duration) {
                hub.state.withLock { $0.sessions[session.namespace + "#" + session.token] = session }
            }

            func takeSession(namespace: String, token: String, eventsAfter offset: String?,
                             completion: @escaping @Sendable (Result<ClusterRecoveryLookup, any Error>) -> Void) {
                let lookup = hub.state.withLock { state -> ClusterRecoveryLookup in
                    let session = state.sessions.removeValue(forKey: namespace + "#" + token)
                    guard let offset else { return ClusterRecoveryLookup(session: session, events: .notAsked) }
                    let start = offset == "0-0" ? 0 : state.entries.firstIndex { $0.offset == offset }.map { $0 + 1 }
                    guard let start else { return ClusterRecoveryLookup(session: session, events: .noLongerKept) }
                    return ClusterRecoveryLookup(session: session, events: .kept(Array(state.entries[start...])))
                }
                completion(.success(lookup))
            }
        }
    }

    private func startNode(_ hub: Hub) throws -> (Server, SocketRegistry) {
        let io = try startServer { configuration in
            configuration.clusterAdapter = Hub.Node(hub: hub)
            configuration.connectionStateRecovery = Server.ConnectionStateRecovery()
        }
        io.onConnection { socket in
            socket.on("join") { (room: String, ack: Ack) in
                try socket.join(room)
                ack()
            }
        }
        return (io, SocketRegistry(io.main))
    }

    func test_clientCutFromOneNode_recoversOnTheOther_withItsRoomsDataAndEveryMissedEventOnce() async throws {
        let hub = Hub()
        let (first, firstSockets) = try startNode(hub)
        let (second, secondSockets) = try startNode(hub)
        let proxy = try CuttingProxy(target: first.port)
        defer { proxy.stop() }
        let page = try await JSONPage.open("ws://127.0.0.1:\(proxy.port)/parley")
        let connect = try await page.next(event: "connect")
        let id = try XCTUnwrap(connect.data["id"] as? String)
        let token = try XCTUnwrap(connect.data["token"] as? String)
        let socket = try await firstSockets.socket(id: id)
        socket.data["score"] = 3
        page.send(#"{"event":"join","data":"news","id":1}"#)
        _ = try await page.next()
        try second.to("news").emit("n", 1)
        let live = try await page.next(event: "n")
        XCTAssertEqual(live["offset"] as? String, "1-1", "the store's offsets")
        let disconnected = Mailbox<Void>()
        socket.onDisconnect { _ in disconnected.put(()) }
        proxy.cut()
        _ = try await disconnected.expect("the cut socket's end")
        try second.to("news").emit("n", 2)
        try first.emit("n", 3)
        try second.to("elsewhere").emit("n", 99)
        proxy.target.withLock { $0 = second.port }
        let again = try await JSONPage.open("ws://127.0.0.1:\(proxy.port)/parley?recoveryToken=\(token)&recoveryOffset=1-1")
        let reconnect = try await again.next(event: "connect")
        XCTAssertEqual(reconnect.data["recovered"] as? Bool, true, "\(reconnect)")
        XCTAssertEqual(reconnect.data["id"] as? String, id)
        for number in 2...3 {
            let missed = try await again.next(event: "n")
            XCTAssertEqual(missed.number, number)
        }
        try first.to("news").emit("n", 4)
        let next = try await again.next(event: "n")
        XCTAssertEqual(next.number, 4, "live events follow, nothing between")
        let recovered = try await secondSockets.socket(id: id)
        XCTAssertEqual(recovered.rooms, [id, "news"])
        XCTAssertEqual(recovered.data["score"] as? Int, 3)
    }
}
