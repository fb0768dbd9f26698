import XCTest
@_spi(IO) @testable import ParleyIO

/// Loading OpenSSL at run time, and the error when it is not there.
final class TLSLibraryTests: XCTestCase {
    func test_load_findsSystemOpenSSL_andReportsItsVersion() throws {
        try TLSLibrary.load()
        XCTAssertTrue(TLSLibrary.isLoaded)
        let version = try XCTUnwrap(TLSLibrary.version)
        XCTAssertTrue(version.hasPrefix("OpenSSL "), version)
    }

    func test_load_throwsLibraryNotFoundNamingTheLibrary_whenNoCandidateExists() {
        let missing = TLSLibrary.Candidate(ssl: "libssl-parley-missing.so.9", crypto: "libcrypto-parley-missing.so.9")
        XCTAssertThrowsError(try TLSLibrary.load(candidates: [missing])) { error in
            let error = error as? TLSError
            XCTAssertEqual(error, .libraryNotFound)
            let message = error?.message ?? ""
            XCTAssertTrue(message.hasPrefix("TLS needs OpenSSL (libssl-parley-missing.so.9), which was not found: "), message)
            XCTAssertTrue(message.contains("libcrypto-parley-missing.so.9"), message)
        }
    }

    func test_load_namesEveryCandidate_whenSeveralAreMissing() {
        let candidates = [TLSLibrary.Candidate(ssl: "libssl-a.so.7", crypto: "libcrypto-a.so.7"),
                          TLSLibrary.Candidate(ssl: "libssl-b.so.8", crypto: "libcrypto-b.so.8")]
        XCTAssertThrowsError(try TLSLibrary.load(candidates: candidates)) { error in
            let message = (error as? TLSError)?.message ?? ""
            XCTAssertTrue(message.hasPrefix("TLS needs OpenSSL (libssl-a.so.7 or libssl-b.so.8)"), message)
            XCTAssertTrue(message.contains("libcrypto-a.so.7") && message.contains("libcrypto-b.so.8"), message)
        }
    }

    func test_load_throwsLibraryNotFound_whenTheLibraryLacksTheFunctions() {
        // libc opens fine but has no SSL_CTX_new: refused by name, not a crash.
        let notOpenSSL = TLSLibrary.Candidate(ssl: "libc.so.6", crypto: "libc.so.6")
        XCTAssertThrowsError(try TLSLibrary.load(candidates: [notOpenSSL])) { error in
            let message = (error as? TLSError)?.message ?? ""
            XCTAssertEqual(error as? TLSError, .libraryNotFound)
            XCTAssertTrue(message.contains("libc.so.6 has no function"), message)
        }
    }

    func test_load_keepsTheLoadedLibraryUsable_afterAFailedAttempt() throws {
        try TLSLibrary.load()
        let missing = TLSLibrary.Candidate(ssl: "libssl-parley-missing.so.9", crypto: "libcrypto-parley-missing.so.9")
        XCTAssertThrowsError(try TLSLibrary.load(candidates: [missing]))
        XCTAssertNoThrow(try TLSContext(configuration: TLSConfiguration(), role: .client))
    }

    func test_defaultCandidates_listVersionedLibraryNames() {
        let names = TLSLibrary.defaultCandidates.map(\.ssl)
        #if os(Linux)
        XCTAssertEqual(names, ["libssl.so.3", "libssl.so.1.1"])
        #else
        XCTAssertFalse(names.contains("libssl.dylib"))
        #endif
    }
}
