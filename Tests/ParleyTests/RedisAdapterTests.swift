import ParleyProtocol
import ParleyWebSocket
import RedisTestSupport
import TestSupport
import XCTest
@testable import Parley

/// The adapter's outage reporting, against a real redis-server that is stopped and restarted.
final class RedisAdapterTests: XCTestCase {
    func test_redisAdapter_reportsOutageOnceAndRecoveryOnce_howeverManyBroadcastsAreDropped() async throws {
        let redis = try startRedis()
        let group = EventLoopGroup(loopCount: 1, name: "parley-test-redis")
        addTeardownBlock { group.shutdown() }
        let alerts = Mailbox<String>()
        let adapter = RedisAdapter(url: redis.url, channelPrefix: "parley", log: { _ in }, alert: { alerts.put($0) })
        let namespace = Namespace(name: "/", log: { _ in }, cluster: adapter)
        adapter.register(namespace)
        try adapter.start(on: group.loops[0])
        addTeardownBlock { adapter.close() }

        redis.stop()
        let down = try await alerts.expect("the outage report")
        XCTAssertTrue(down.contains("Local delivery continues"), down)
        for n in 0..<50 { try namespace.emit("during", n) }
        try redis.restart()
        let back = try await alerts.expect("the recovery report", timeout: .seconds(10))
        XCTAssertTrue(back.contains("is back after"), back)
        XCTAssertTrue(back.contains("\(adapter.droppedCount) cross-node broadcasts were dropped"), "\(back), \(adapter.droppedCount) dropped")
        XCTAssertGreaterThan(adapter.droppedCount, 0, "emits of the outage were refused and counted, not queued")
        XCTAssertEqual(alerts.pending, [], "one report per outage, not one per message")
    }
}
