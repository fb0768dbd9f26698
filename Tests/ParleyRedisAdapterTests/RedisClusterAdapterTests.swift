import Parley
import ParleyIO
import RedisTestSupport
import TestSupport
import XCTest
@testable import ParleyRedisAdapter

/// The adapter on its own, with a context of the test's: what it hands to the server, and its
/// outage reporting, against a real redis-server that is stopped and restarted.
final class RedisClusterAdapterTests: XCTestCase {
    /// Starts an adapter on `redis` whose received operations and warnings go to mailboxes.
    private func startAdapter(_ redis: RedisTestServer, loop: EventLoop, received: Mailbox<ClusterOperation> = Mailbox(),
                              warnings: Mailbox<String> = Mailbox()) throws -> RedisClusterAdapter {
        let adapter = RedisClusterAdapter(url: redis.url)
        adapter.register(namespace: "/")
        try adapter.start(ClusterContext(loop: loop, apply: { received.put($0) }, warning: { warnings.put($0) }))
        addTeardownBlock { adapter.stop() }
        return adapter
    }

    func test_redisClusterAdapter_handsOtherNodesOperations_toItsContext_notItsOwn() async throws {
        let redis = try startRedis()
        let group = EventLoopGroup(loopCount: 1, name: "parley-test-redis")
        addTeardownBlock { group.shutdown() }
        let heardByA = Mailbox<ClusterOperation>()
        let heardByB = Mailbox<ClusterOperation>()
        let a = try startAdapter(redis, loop: group.loops[0], received: heardByA)
        let b = try startAdapter(redis, loop: group.loops[0], received: heardByB)
        b.register(namespace: "/admin")
        let join = ClusterOperation(selection: BroadcastSelection(namespace: "/", rooms: ["r"], exceptSocket: "s1"),
                                    action: .socketsJoin(["vip"]))
        let emit = ClusterOperation(selection: BroadcastSelection(namespace: "/admin", exceptRooms: ["x"]), flags: .volatile,
                                    action: .emit(EncodedEnvelope(unchecked: Array(#"{"event":"e"}"#.utf8))))
        a.publish(join)
        a.publish(emit)
        let first = try await heardByB.expect("the join")
        XCTAssertEqual(first, join)
        let second = try await heardByB.expect("the emit")
        XCTAssertEqual(second, emit)
        b.publish(emit)   // on /admin, which A did not register
        b.publish(join)   // a fence: B's publications reach A in order; A's own never come back to it
        let fromB = try await heardByA.expect("B's join")
        XCTAssertEqual(fromB, join)
        XCTAssertEqual(heardByA.pending, [], "A never hears its own publications, nor /admin (not registered)")
    }

    func test_redisClusterAdapter_reportsOutageOnceAndRecoveryOnce_howeverManyBroadcastsAreDropped() async throws {
        let redis = try startRedis()
        let group = EventLoopGroup(loopCount: 1, name: "parley-test-redis")
        addTeardownBlock { group.shutdown() }
        let alerts = Mailbox<String>()
        let adapter = try startAdapter(redis, loop: group.loops[0], warnings: alerts)

        redis.stop()
        let down = try await alerts.expect("the outage report")
        XCTAssertTrue(down.contains("Local delivery continues"), down)
        let operation = ClusterOperation(selection: BroadcastSelection(namespace: "/"),
                                         action: .emit(EncodedEnvelope(unchecked: Array(#"{"event":"during"}"#.utf8))))
        for _ in 0..<50 { adapter.publish(operation) }
        try redis.restart()
        let back = try await alerts.expect("the recovery report", timeout: .seconds(10))
        XCTAssertTrue(back.contains("is back after"), back)
        XCTAssertTrue(back.contains("\(adapter.droppedCount) cross-node broadcasts were dropped"), "\(back), \(adapter.droppedCount) dropped")
        XCTAssertGreaterThan(adapter.droppedCount, 0, "emits of the outage were refused and counted, not queued")
        XCTAssertEqual(alerts.pending, [], "one report per outage, not one per message")
    }
}
