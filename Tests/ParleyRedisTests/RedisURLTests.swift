import ParleyRedis
import XCTest

final class RedisURLTests: XCTestCase {
    func test_url_parsesHostPortAndDefaults() throws {
        let url = try RedisURL("redis://127.0.0.1:6380")
        XCTAssertEqual(url.host, "127.0.0.1")
        XCTAssertEqual(url.port, 6380)
        XCTAssertNil(url.password)
        XCTAssertNil(url.user)
        XCTAssertEqual(url.database, 0)
        let bare = try RedisURL("redis://cache.internal")
        XCTAssertEqual(bare.port, 6379)
        XCTAssertEqual(bare.description, "redis://cache.internal:6379")
    }

    func test_url_parsesPasswordUserAndDatabase() throws {
        let url = try RedisURL("redis://:s3cret@localhost:7000/2")
        XCTAssertEqual(url.password, "s3cret")
        XCTAssertNil(url.user)
        XCTAssertEqual(url.database, 2)
        XCTAssertEqual(url.description, "redis://localhost:7000/2", "credentials stay out of logs")
        let acl = try RedisURL("redis://app:p%40ss%2Fword@10.0.0.5/0")
        XCTAssertEqual(acl.user, "app")
        XCTAssertEqual(acl.password, "p@ss/word")
        let lone = try RedisURL("redis://onlypassword@h")
        XCTAssertEqual(lone.password, "onlypassword")
        let raw = try RedisURL("redis://:a@b@h:1")  // the last @ ends the credentials
        XCTAssertEqual(raw.password, "a@b")
        XCTAssertEqual(raw.host, "h")
    }

    func test_url_parsesBracketedIPv6() throws {
        let url = try RedisURL("redis://[::1]:6390/3")
        XCTAssertEqual(url.host, "::1")
        XCTAssertEqual(url.port, 6390)
        XCTAssertEqual(url.database, 3)
        XCTAssertEqual(url.description, "redis://[::1]:6390/3")
    }

    func test_url_throwsInvalidURL_forBadInput() {
        let bad = ["", "http://h:1", "rediss://", "unix:///tmp/redis.sock", "redis://", "redis://:6379",
                   "redis://h:0", "redis://h:65536", "redis://h:abc", "redis://h:-1", "redis://h/x", "redis://h/-1",
                   "redis://h?db=1", "redis://[::1", "redis://[::1]x", "redis://:%zz@h", "redis://h /1",
                   // Found by fuzzing: a bracket inside the host made a URL whose description does not parse.
                   "redis://[[]:7000", "redis://[[x]", "redis://a]b"]
        for text in bad {
            XCTAssertThrowsError(try RedisURL(text), text) { error in
                guard case RedisError.invalidURL(let why) = error else { return XCTFail("\(text): \(error)") }
                XCTAssertFalse(why.isEmpty)
            }
        }
    }

    func test_url_parsesRediss_asTLS() throws {
        let url = try RedisURL("rediss://user:p%40ss@cache.example.com:6380/1")
        XCTAssertTrue(url.tls)
        XCTAssertEqual(url.host, "cache.example.com")
        XCTAssertEqual(url.port, 6380)
        XCTAssertEqual(url.user, "user")
        XCTAssertEqual(url.password, "p@ss")
        XCTAssertEqual(url.database, 1)
        XCTAssertEqual(url.description, "rediss://cache.example.com:6380/1")
        XCTAssertEqual(try RedisURL("rediss://h").port, 6379)
        XCTAssertFalse(try RedisURL("redis://h").tls)
    }
}
