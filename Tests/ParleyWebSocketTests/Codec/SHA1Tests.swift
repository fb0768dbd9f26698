import XCTest
@testable import ParleyWebSocket

final class SHA1Tests: XCTestCase {
    private func hex(_ digest: [UInt8]) -> String {
        digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    private func sha1(_ text: String) -> String { hex(SHA1.hash(Array(text.utf8))) }

    // MARK: - FIPS 180 vectors

    func test_sha1_hashesABC_toFIPSVector() {
        XCTAssertEqual(sha1("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d")
    }

    func test_sha1_hashesEmptyMessage_toFIPSVector() {
        XCTAssertEqual(sha1(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }

    func test_sha1_hashes448BitMessage_toFIPSVector() {
        XCTAssertEqual(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    }

    func test_sha1_hashesOneMillionA_toFIPSVector() {
        XCTAssertEqual(hex(SHA1.hash(repeatElement(UInt8(ascii: "a"), count: 1_000_000))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    // MARK: - Padding boundaries and incremental updates

    func test_sha1_padsCorrectly_aroundBlockBoundaries() {
        // Reference digests from coreutils sha1sum of that many "a".
        let expected = [
            55: "c1c8bbdc22796e28c0e15163d20899b65621d65a",  // padding fits in the block
            56: "c2db330f6083854c99d4b5bfb6e8f29f201be699",  // length spills into a second block
            63: "03f09f5b158a7a8cdad920bddc29b81c18a551f5",
            64: "0098ba824b5c16427bd7a1122a5a442a25ec644d",  // exactly one block
            65: "11655326c708d70319be2610e8a57d9a5b959d3b",
            119: "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56",
            120: "f34c1488385346a55709ba056ddd08280dd4c6d6",
        ]
        for (count, digest) in expected {
            XCTAssertEqual(hex(SHA1.hash(Array(repeating: UInt8(ascii: "a"), count: count))), digest, "\(count) bytes")
        }
    }

    func test_sha1_hashesQuickBrownFox() {
        XCTAssertEqual(sha1("The quick brown fox jumps over the lazy dog"), "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12")
    }

    func test_sha1_incrementalUpdates_matchOneShot_atEverySplit() {
        let message = (0..<4).flatMap { _ in (0...255).map { UInt8($0) } }  // every byte value, 1024 bytes
        let digest = "5b00669c480d5cffbdfa8bdba99561160f2d1b77"
        XCTAssertEqual(hex(SHA1.hash(message)), digest)
        for split in stride(from: 0, through: message.count, by: 7) {
            var sha = SHA1()
            sha.update(message[..<split])
            sha.update(message[split...])
            XCTAssertEqual(hex(sha.finalize()), digest, "split at \(split)")
        }
        var byteByByte = SHA1()
        for byte in message { byteByByte.update(CollectionOfOne(byte)) }
        XCTAssertEqual(hex(byteByByte.finalize()), digest)
    }

    // MARK: - RFC 6455 1.3

    func test_serverHandshake_acceptValue_matchesRFC6455Example() {
        XCTAssertEqual(ServerHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }
}
