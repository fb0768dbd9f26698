import Glibc
import ParleyRedis
import ParleyIO
import RedisTestSupport
import XCTest

/// The connection against a real redis-server on a free loopback port.
final class RedisConnectionTests: XCTestCase {
    private let group = EventLoopGroup(loopCount: 1, name: "parley-redis-test")

    override func tearDown() {
        group.shutdown()
    }

    private func connection(_ url: String, onMessage: @escaping @Sendable (RedisPubSubMessage) -> Void = { _ in },
                            onEvent: @escaping @Sendable (RedisConnection.Event) -> Void = { _ in },
                            configure: (inout RedisConnection.Configuration) -> Void = { _ in }) throws -> RedisConnection {
        var configuration = RedisConnection.Configuration(url: try RedisURL(url))
        configuration.connectTimeout = .seconds(3)
        configure(&configuration)
        let connection = RedisConnection(configuration: configuration, loop: group.next(), onMessage: onMessage, onEvent: onEvent)
        addTeardownBlock { connection.close() }
        return connection
    }

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func test_connection_deliversPublishedMessages_toSubscriberAndPatternSubscriber() async throws {
        let redis = try startRedis()
        let messages = Inbox<RedisPubSubMessage>()
        let subscriber = try connection(redis.url, onMessage: { messages.put($0) })
        subscriber.subscribe(Array("news".utf8))
        subscriber.psubscribe(Array("room:*".utf8))
        try subscriber.connect()
        let publisher = try connection(redis.url)
        try publisher.connect()

        XCTAssertTrue(publisher.publish(channel: Array("news".utf8), message: Array("hello".utf8)))
        XCTAssertTrue(publisher.publish(channel: Array("room:1".utf8), message: [0, 13, 10, 255]))
        XCTAssertTrue(publisher.publish(channel: Array("other".utf8), message: Array("unheard".utf8)))
        XCTAssertTrue(publisher.publish(channel: Array("news".utf8), message: Array("fence".utf8)))
        let first = try await messages.next("news")
        XCTAssertEqual(first, RedisPubSubMessage(channel: Array("news".utf8), payload: Array("hello".utf8)))
        let second = try await messages.next("room:1")
        XCTAssertEqual(second, RedisPubSubMessage(channel: Array("room:1".utf8), pattern: Array("room:*".utf8), payload: [0, 13, 10, 255]))
        let fence = try await messages.next("fence")
        XCTAssertEqual(text(fence.payload), "fence", "nothing from the unsubscribed channel came before the fence")
    }

    func test_connection_pipelinesCommands_andAnswersInOrder() async throws {
        let redis = try startRedis()
        let client = try connection(redis.url)
        try client.connect()
        let replies = Inbox<(Int, Result<RESPValue, RedisError>)>()
        for index in 0..<500 {
            client.send(["SET", "k\(index)", "v\(index)"]) { replies.put((index, $0)) }
            client.send(["GET", "k\(index)"]) { replies.put((index, $0)) }
        }
        client.send(["NOSUCHCOMMAND"]) { replies.put((-1, $0)) }
        for index in 0..<500 {
            let set = try await replies.next("SET \(index)")
            XCTAssertEqual(set.0, index)
            XCTAssertEqual(try set.1.get(), .simpleString("OK"))
            let get = try await replies.next("GET \(index)")
            XCTAssertEqual(try get.1.get(), .bulkString(Array("v\(index)".utf8)))
        }
        let unknown = try await replies.next("the error reply")
        guard case .failure(.commandFailed(let message)) = unknown.1 else { return XCTFail("\(unknown.1)") }
        XCTAssertTrue(message.hasPrefix("ERR"), message)
        let answer = try await client.send(["ECHO", "still served"])
        XCTAssertEqual(answer, .bulkString(Array("still served".utf8)))
    }

    func test_connection_deliversThousandPipelinedPublications_inOrder() async throws {
        let redis = try startRedis()
        let messages = Inbox<RedisPubSubMessage>()
        let subscriber = try connection(redis.url, onMessage: { messages.put($0) })
        subscriber.subscribe(Array("c".utf8))
        try subscriber.connect()
        let publisher = try connection(redis.url)
        try publisher.connect()
        for index in 0..<1000 { XCTAssertTrue(publisher.publish(channel: Array("c".utf8), message: Array(String(index).utf8))) }
        for index in 0..<1000 {
            let message = try await messages.next("message \(index)")
            XCTAssertEqual(text(message.payload), String(index))
        }
    }

    func test_connection_authenticatesAndSelects_fromURL() async throws {
        let redis = try startRedis(password: "s3cret")
        let db2 = try connection("redis://:s3cret@127.0.0.1:\(redis.port)/2")
        try db2.connect()
        _ = try await db2.send(["SET", "where", "two"])
        let db0 = try connection("redis://default:s3cret@127.0.0.1:\(redis.port)")
        try db0.connect()
        let missing = try await db0.send(["GET", "where"])
        XCTAssertEqual(missing, .bulkString(nil), "SELECT 2 kept the key out of database 0")
        let found = try await db2.send(["GET", "where"])
        XCTAssertEqual(found, .bulkString(Array("two".utf8)))
    }

    func test_connect_throwsAuthFailed_forWrongOrMissingPassword() throws {
        let redis = try startRedis(password: "s3cret")
        let wrong = try connection("redis://:nope@127.0.0.1:\(redis.port)")
        XCTAssertThrowsError(try wrong.connect()) { error in
            guard case RedisError.authFailed(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("WRONGPASS") || message.contains("invalid"), message)
        }
        XCTAssertFalse(wrong.isReady)
        let missing = try connection("redis://127.0.0.1:\(redis.port)")
        XCTAssertThrowsError(try missing.connect()) { error in
            guard case RedisError.authFailed(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.hasPrefix("NOAUTH"), message)
        }
    }

    func test_connect_throwsSelectFailed_forDatabaseOutOfRange() throws {
        let redis = try startRedis()
        let client = try connection("redis://127.0.0.1:\(redis.port)/999")
        XCTAssertThrowsError(try client.connect()) { error in
            guard case RedisError.selectFailed = error else { return XCTFail("\(error)") }
        }
    }

    func test_connect_throwsConnectFailed_whenNothingListens() throws {
        let port = RedisTestServer.freePort()
        let client = try connection("redis://127.0.0.1:\(port)")
        XCTAssertThrowsError(try client.connect()) { error in
            XCTAssertEqual(error as? RedisError, .connectFailed(host: "127.0.0.1", port: port, errno: ECONNREFUSED))
        }
        XCTAssertFalse(client.publish(channel: [1], message: [2]))
    }

    func test_connection_reconnectsAndResubscribes_afterRedisRestarts() async throws {
        let redis = try startRedis()
        let messages = Inbox<RedisPubSubMessage>()
        let subscriberEvents = Inbox<RedisConnection.Event>()
        let publisherEvents = Inbox<RedisConnection.Event>()
        let subscriber = try connection(redis.url, onMessage: { messages.put($0) }, onEvent: { subscriberEvents.put($0) })
        subscriber.subscribe(Array("c".utf8))
        try subscriber.connect()
        let publisher = try connection(redis.url, onEvent: { publisherEvents.put($0) })
        try publisher.connect()
        publisher.publish(channel: Array("c".utf8), message: Array("before".utf8))
        let before = try await messages.next("before")
        XCTAssertEqual(text(before.payload), "before")

        redis.stop()
        let lost = try await publisherEvents.next("the publisher's disconnect")
        guard case .disconnected(.connectionLost(host: "127.0.0.1", port: redis.port, errno: _)) = lost else { return XCTFail("\(lost)") }
        guard case .disconnected = try await subscriberEvents.next("the subscriber's disconnect") else { return XCTFail() }
        XCTAssertFalse(publisher.publish(channel: Array("c".utf8), message: Array("lost".utf8)), "dropped while down")
        XCTAssertGreaterThanOrEqual(publisher.droppedCount, 1)

        try redis.restart()
        let publisherBack = try await publisherEvents.next("the publisher's reconnect", timeout: 10)
        XCTAssertEqual(publisherBack, .reconnected)
        let subscriberBack = try await subscriberEvents.next("the subscriber's reconnect", timeout: 10)
        XCTAssertEqual(subscriberBack, .reconnected)
        XCTAssertTrue(publisher.publish(channel: Array("c".utf8), message: Array("after".utf8)))
        let after = try await messages.next("after")
        XCTAssertEqual(text(after.payload), "after", "re-subscribed; nothing lost was replayed")
        XCTAssertEqual(subscriberEvents.pending, [], "one disconnect and one reconnect per outage")
    }

    func test_publicationsUnanswered_whenTheConnectionIsLost_countAsDropped() async throws {
        let redis = try startRedis()
        let events = Inbox<RedisConnection.Event>()
        let publisher = try connection(redis.url, onEvent: { events.put($0) })
        try publisher.connect()
        // Redis holds every client's commands unanswered for 10 s: the five stay in flight.
        let pauser = try connection(redis.url)
        try pauser.connect()
        let paused = try await pauser.send(["CLIENT", "PAUSE", "10000", "ALL"])
        XCTAssertEqual(paused, .simpleString("OK"))
        let ping = Inbox<Result<RESPValue, RedisError>>()
        for _ in 0..<5 { XCTAssertTrue(publisher.publish(channel: Array("c".utf8), message: Array("held".utf8))) }
        publisher.send(bytes: [Array("PING".utf8)]) { ping.put($0) }
        redis.stop()
        guard case .disconnected = try await events.next("the disconnect") else { return XCTFail() }
        let answer = try await ping.next("the PING's failure")
        guard case .failure(.notConnected) = answer else { return XCTFail("\(answer)") }
        XCTAssertEqual(publisher.droppedCount, 5, "the publications, not the command with a reply handler")
    }

    func test_publish_dropsAndReportsOnce_whenBufferIsFull() async throws {
        let redis = try startRedis()
        let events = Inbox<RedisConnection.Event>()
        let publisher = try connection(redis.url, onEvent: { events.put($0) }) { $0.maxBufferedBytes = 1024 }
        try publisher.connect()
        let message = [UInt8](repeating: 120, count: 300)
        let outcomes = Inbox<[Bool]>()
        // On the loop thread nothing is flushed until this task ends: the buffer fills for sure.
        publisher.loop.execute {
            outcomes.put((0..<10).map { _ in publisher.publish(channel: Array("c".utf8), message: message) })
        }
        let accepted = try await outcomes.next("the publish outcomes")
        XCTAssertEqual(accepted, [true, true, true, false, false, false, false, false, false, false])
        XCTAssertEqual(publisher.droppedCount, 7)
        let full = try await events.next("bufferFull")
        XCTAssertEqual(full, .bufferFull)
        let answer = try await publisher.send(["PING"])
        XCTAssertEqual(answer, .simpleString("PONG"), "still served once the buffer drained")
        XCTAssertEqual(events.pending, [], "reported once")
    }
}
