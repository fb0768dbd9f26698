import Parley
import ParleyProtocol
import ParleyRedis
import ParleyRedisAdapter
import ParleyTestSupport
import ParleyWebSocket
import RedisTestSupport
import TestSupport
import XCTest

/// `rediss://` against a real redis-server listening with `--tls-port` and the test certificate:
/// the cluster across two nodes, AUTH inside TLS, and a certificate from an untrusted CA refused
/// at start.
final class RedisTLSTests: XCTestCase {
    private func startTLSRedis(password: String? = nil) throws -> (RedisTestServer, TestCertificates) {
        let certificates = try TestCertificates.shared()
        let files = RedisTestServer.TLSFiles(certificate: certificates.server.certificate, key: certificates.server.key,
                                             ca: certificates.ca)
        return (try startRedis(password: password, tls: files), certificates)
    }

    func test_cluster_sharesBroadcastsAcrossTwoNodes_overRedissWithAuth() async throws {
        let (redis, certificates) = try startTLSRedis(password: "s3cret")
        let tls = TLSConfiguration(trust: .certificateAuthorities(.file(certificates.ca)))
        let nodes = try (0..<2).map { _ in
            try startServer { $0.clusterAdapter = RedisClusterAdapter(url: redis.tlsURL, tls: tls) }
        }
        let near = try await connectClient(nodes[0])
        let far = try await connectClient(nodes[1])
        try nodes[0].emit("news", "over rediss")
        let local = try await near.next(event: "news")
        XCTAssertEqual(local.data?.description, #""over rediss""#)
        let remote = try await far.next(event: "news")
        XCTAssertEqual(remote.data?.description, #""over rediss""#)
        try nodes[1].emit("news", "back")
        let back = try await near.next(event: "news")
        XCTAssertEqual(back.data?.description, #""back""#)
        for node in nodes { XCTAssertTrue(node.metrics.cluster?.connected ?? false) }
    }

    func test_cluster_refusesToStart_whenRedisCertificateIsFromUntrustedCA() throws {
        let (redis, certificates) = try startTLSRedis()
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
        configuration.clusterAdapter = RedisClusterAdapter(url: redis.tlsURL,
                                                           tls: TLSConfiguration(trust: .certificateAuthorities(.file(certificates.otherCA))))
        let io = Server(configuration)
        XCTAssertThrowsError(try io.start()) { error in
            guard case RedisError.tls(let tls) = error else { return XCTFail("expected a TLS error, got \(error)") }
            XCTAssertEqual(tls, .certificateVerificationFailed)
            XCTAssertTrue(tls.message.contains("not issued by a trusted CA"), tls.message)
        }
    }

    func test_connection_refusesWrongPassword_overTLS() throws {
        let (redis, certificates) = try startTLSRedis(password: "right")
        let group = EventLoopGroup(loopCount: 1, name: "parley-test-rediss")
        addTeardownBlock { group.shutdown() }
        var configuration = RedisConnection.Configuration(url: try RedisURL("rediss://:wrong@localhost:\(redis.tlsPort)"))
        configuration.tls = TLSConfiguration(trust: .certificateAuthorities(.file(certificates.ca)))
        let connection = RedisConnection(configuration: configuration, loop: group.loops[0])
        defer { connection.close() }
        XCTAssertThrowsError(try connection.connect()) { error in
            guard case RedisError.authFailed = error else { return XCTFail("expected authFailed, got \(error)") }
        }
    }
}
