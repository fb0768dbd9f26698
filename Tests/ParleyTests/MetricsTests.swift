import Foundation
import Glibc
import ParleyProtocol
import ParleyWebSocket
import TestSupport
import XCTest
@testable import Parley

/// ``Server/metrics`` and its Prometheus route, over real sockets.
final class MetricsTests: XCTestCase {
    /// GETs `path` with a raw HTTP request; returns the status and body.
    private func get(_ path: String, port: Int) throws -> (status: Int, body: String) {
        let raw = try RawClient(port: port)
        let (head, body) = try raw.http("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let status = head.first.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
        return (status, String(decoding: body, as: UTF8.self))
    }

    /// The value of the sample named `name` (with its labels) in Prometheus text.
    private func sample(_ name: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Int(line.dropFirst(name.count + 1))
        }
        return nil
    }

    /// Waits until every task queued on `socket`'s loop before now has run.
    private func drain(_ socket: Socket) async {
        await withCheckedContinuation { continuation in socket.loop.execute { continuation.resume() } }
    }

    func test_metricsRoute_countsConnectionsMessagesAndBytes_overRealSockets() async throws {
        let io = try startServer { $0.metricsPath = "/metrics" }
        installEcho(on: io.main)
        var clients: [EnvelopeClient] = []
        for _ in 0..<3 { clients.append(try await connectClient(io)) }
        for (index, client) in clients.enumerated() {
            for id in 1...5 { try await client.assertServed(id: UInt64(index * 10 + id)) }
        }

        let (status, text) = try get("/metrics", port: io.port)
        XCTAssertEqual(status, 200)
        XCTAssertEqual(sample("parley_connections_open", in: text), 3)
        XCTAssertEqual(sample("parley_connections_accepted_total", in: text), 3)
        XCTAssertEqual(sample(#"parley_sockets_connected{namespace="/"}"#, in: text), 3)
        // 15 echoes in; out: 3 connects + 15 acks.
        XCTAssertEqual(sample("parley_messages_received_total", in: text), 15)
        XCTAssertEqual(sample("parley_messages_sent_total", in: text), 18)
        XCTAssertGreaterThan(sample("parley_received_bytes_total", in: text) ?? 0, 15 * 20)
        XCTAssertGreaterThan(sample("parley_sent_bytes_total", in: text) ?? 0, 15 * 20)
        XCTAssertTrue(text.contains("# TYPE parley_messages_received_total counter\n"), text)
        XCTAssertEqual(io.metrics.messagesReceived, 15)
    }

    func test_metrics_countRefusalsByCause() async throws {
        let io = try startServer { configuration in
            configuration.origins = ["http://good.example"]
            configuration.metricsPath = "/metrics"
        }
        io.use { handshake in
            guard handshake.query["token"] == "yes" else { throw ConnectError("unauthorized") }
        }
        // 403: an origin not allowed.
        do {
            let client = try await EnvelopeClient.connect(io.url(query: "token=yes"), headers: [("Origin", "http://evil.example")])
            client.close()
            XCTFail("the upgrade succeeded")
        } catch WebSocketError.handshakeRejected(403, _) {}
        // Middleware: connect_error, then close.
        let refused = try await openClient(io)
        _ = try await refused.next(event: "connect_error")
        _ = try await refused.closed()
        // Namespace nobody created.
        let lost = try await openClient(io, query: "token=yes&nsp=/nowhere")
        _ = try await lost.next(event: "connect_error")
        // 404: a path with nothing.
        XCTAssertEqual(try get("/nothing", port: io.port).status, 404)

        let metrics = io.metrics
        XCTAssertEqual(metrics.refusals[.origin], 1)
        XCTAssertEqual(metrics.refusals[.middleware], 1)
        XCTAssertEqual(metrics.refusals[.namespace], 1)
        XCTAssertEqual(metrics.refusals[.notFound], 1)
        XCTAssertEqual(metrics.connectionsAccepted, 2, "the middleware and namespace refusals were upgraded first")
        let text = try get("/metrics", port: io.port).body
        XCTAssertEqual(sample(#"parley_connections_refused_total{cause="origin"}"#, in: text), 1)
        XCTAssertEqual(sample(#"parley_connections_refused_total{cause="middleware"}"#, in: text), 1)
    }

    func test_metricsRoute_isOff_byDefault() async throws {
        let io = try startServer()
        XCTAssertEqual(try get("/metrics", port: io.port).status, 404)
    }

    func test_metrics_showPendingAcks_untilTheyAreAnswered() async throws {
        let io = try startServer()
        let sockets = SocketRegistry(io.main)
        let (client, socket) = try await connectPair(io, sockets)
        let answered = Mailbox<String>()
        Task {
            let reply: String = try await socket.emitWithAck("question", "?", timeout: .seconds(10))
            answered.put(reply)
        }
        let question = try await client.next(event: "question")
        XCTAssertEqual(io.metrics.pendingAcks, 1)
        client.ack(try XCTUnwrap(question.id), "\"yes\"")
        _ = try await answered.expect("the answer")
        XCTAssertEqual(io.metrics.pendingAcks, 0)
    }

    func test_metrics_countSlowConsumers_volatileDropsThenQueueFullClose() async throws {
        let io = try startServer { $0.loopCount = 1 }
        let sockets = SocketRegistry(io.main)
        let gone = Mailbox<DisconnectReason>()
        io.onConnection { socket in socket.onDisconnect { gone.put($0) } }
        // A client that upgrades and then never reads, with a small receive window.
        let raw = try RawClient(port: io.port, receiveBuffer: 4096)
        XCTAssertEqual(try raw.upgrade(target: "/parley"), 101)
        let socket = try await sockets.next()
        let chunk = String(repeating: "x", count: 60_000)
        // Fill the kernel buffers until the connection waits for writability, then volatile
        // emits are dropped; bounded: 4 MiB of queue is reached well within 200 emits.
        var emitted = 0
        while io.metrics.volatileDropped == 0 && emitted < 200 {
            try socket.emit("fill", chunk)
            try io.volatile.emit("tick", 1)
            await drain(socket)
            emitted += 1
        }
        XCTAssertGreaterThan(io.metrics.volatileDropped, 0, "no volatile emit was dropped after \(emitted) large emits")
        for _ in 0..<200 where io.metrics.sendQueueFullCloses == 0 {
            try socket.emit("fill", chunk)
            await drain(socket)
        }
        XCTAssertEqual(io.metrics.sendQueueFullCloses, 1)
        raw.close()
        _ = try await gone.expect("the slow consumer's disconnect")
    }
}
