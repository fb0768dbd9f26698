import Foundation
import XCTest

extension XCTestCase {
    /// Starts a throw-away redis-server (stopped by the teardown, after the servers registered
    /// later have closed). Without redis-server the test is skipped, unless the environment has
    /// `CI` set: then it fails.
    public func startRedis(password: String? = nil, tls: RedisTestServer.TLSFiles? = nil) throws -> RedisTestServer {
        do {
            let redis = try RedisTestServer.start(password: password, tls: tls)
            addTeardownBlock {
                redis.stop()
                redis.removeFiles()
            }
            return redis
        } catch RedisTestServer.Failure.notInstalled where ProcessInfo.processInfo.environment["CI"] == nil {
            throw XCTSkip("redis-server is not installed (apt-get install -y redis-server); set CI=1 to make this a failure")
        }
    }
}
