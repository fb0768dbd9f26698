import Foundation
import ParleyClient
import RedisTestSupport
import TestSupport
import XCTest

/// Two `parley-server` processes sharing broadcasts through a real redis-server over TLS
/// (`--redis rediss://... --redis-ca FILE`, redis listening with `--tls-port` and the test
/// certificate): a broadcast from a client of one reaches a client of the other, both ways.
final class RelayRedissTests: XCTestCase {
    /// A Swift client of `port`'s relay whose "broadcast" events arrive in `received`.
    private func client(port: Int, received: Mailbox<String>) async throws -> Client {
        var options = Client.Options()
        options.reconnection = false
        options.logger = .disabled
        options.autoConnect = false
        let client = Client(url: "ws://127.0.0.1:\(port)/parley", options: options)
        addTeardownBlock { client.disconnect() }
        let connected = Mailbox<Bool>()
        client.on(.connect) { connected.put(true) }
        client.on("broadcast") { (text: String) in received.put(text) }
        client.connect()
        _ = try await connected.expect("connect to the relay on port \(port)")
        return client
    }

    func test_relays_shareBroadcastsAcrossTwoProcesses_overRediss() async throws {
        let certificates = try TestCertificates.shared()
        let redis = try startRedis(password: "s3cret", tls: .init(certificate: certificates.server.certificate,
                                                                  key: certificates.server.key, ca: certificates.ca))
        let arguments = ["--port", "0", "--loops", "1", "--redis", redis.tlsURL, "--redis-ca", certificates.ca]
        let first = try await ChildProcess.start("parley-server", arguments, for: self)
        let second = try await ChildProcess.start("parley-server", arguments, for: self)
        // Each announces its Redis (the URL, password hidden) once connected and subscribed.
        for relay in [first, second] { try await relay.line(containing: "broadcasts shared through Redis at rediss://") }
        let nearInbox = Mailbox<String>()
        let farInbox = Mailbox<String>()
        let near = try await client(port: first.port, received: nearInbox)
        let far = try await client(port: second.port, received: farInbox)

        _ = try near.emit("broadcast", "from the first process")
        let there = try await farInbox.expect("the broadcast through rediss on the second process", timeout: .seconds(10))
        XCTAssertEqual(there, "from the first process")
        _ = try far.emit("broadcast", "and back")
        let back = try await nearInbox.expect("the broadcast through rediss on the first process", timeout: .seconds(10))
        XCTAssertEqual(back, "and back")
        // Everyone but the sender: neither sender got its own.
        XCTAssertTrue(nearInbox.pending.isEmpty && farInbox.pending.isEmpty)
    }
}
