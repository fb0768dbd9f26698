import CParleyTLS
import Synchronization
#if canImport(Glibc)
#elseif canImport(Darwin)
import Darwin
#endif

/// OpenSSL, loaded the first time TLS is used.
///
/// Parley links no TLS library: it opens OpenSSL's `libssl` and `libcrypto` at run time
/// (`libssl.so.3`, then `libssl.so.1.1` on Linux; Homebrew's `openssl@3` on macOS), so a program
/// that never uses TLS loads nothing, and building needs no OpenSSL headers. ``TLSContext``
/// loads the library itself; call ``load()`` at startup to fail early with a clear message.
///
/// ```swift
/// do { try TLSLibrary.load() } catch { print(error) }   // "TLS needs OpenSSL (libssl.so.3 ..."
/// ```
public enum TLSLibrary {
    /// A pair of shared-library names (or paths) to try together.
    package struct Candidate: Sendable, Hashable {
        package var ssl: String
        package var crypto: String

        package init(ssl: String, crypto: String) {
            self.ssl = ssl
            self.crypto = crypto
        }
    }

    /// The names tried by ``load()``, most preferred first, for this OS.
    package static let defaultCandidates: [Candidate] = (0..<cpt_default_candidate_count()).map { index in
        Candidate(ssl: String(cString: cpt_default_candidate_ssl(index)),
                  crypto: String(cString: cpt_default_candidate_crypto(index)))
    }

    /// The outcome of loading the default candidates: computed once, then reused.
    private static let outcome = Mutex<Result<Void, TLSError>?>(nil)

    /// Loads OpenSSL if it is not loaded yet (once per process; later calls return at once).
    ///
    /// - Throws: ``TLSError/libraryNotFound`` naming the libraries looked for and why each
    ///   failed, e.g. "TLS needs OpenSSL (libssl.so.3 or libssl.so.1.1), which was not found:
    ///   libssl.so.3: cannot open shared object file: No such file or directory".
    public static func load() throws(TLSError) {
        let result = outcome.withLock { outcome -> Result<Void, TLSError> in
            if let outcome { return outcome }
            let result = Result<Void, TLSError> { () throws(TLSError) in try load(candidates: defaultCandidates) }
            outcome = result
            return result
        }
        try result.get()
    }

    /// Loads OpenSSL from the first of `candidates` that opens and has every function Parley
    /// uses. The first library loaded in the process stays in use; the candidates are tried
    /// even so, and the call fails when none of them loads.
    ///
    /// - Throws: ``TLSError/libraryNotFound`` when no candidate loads.
    package static func load(candidates: [Candidate]) throws(TLSError) {
        guard !candidates.isEmpty else { throw .libraryNotFound("TLS needs OpenSSL, and no library name was given") }
        var message = [CChar](repeating: 0, count: 2048)
        let ssl = CStrings(candidates.map(\.ssl))
        let crypto = CStrings(candidates.map(\.crypto))
        let status = withExtendedLifetime((ssl, crypto)) {
            cpt_load(ssl.pointers, crypto.pointers, Int32(candidates.count), &message, message.count)
        }
        guard status != 0 else { return }
        let names = candidates.map(\.ssl).joined(separator: " or ")
        let reason = String(cText: message)
        throw .libraryNotFound("TLS needs OpenSSL (\(names)), which was not found: \(reason.isEmpty ? "no candidate" : reason)")
    }

    /// Whether OpenSSL is loaded in this process.
    public static var isLoaded: Bool { cpt_is_loaded() != 0 }

    /// The loaded OpenSSL's version, e.g. "OpenSSL 3.0.11 19 Sep 2023"; nil before loading.
    public static var version: String? {
        guard isLoaded, let text = cpt_version_text() else { return nil }
        return String(cString: text)
    }
}

extension String {
    /// The text of a NUL-terminated C buffer (up to its first NUL, or all of it).
    init(cText buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self.init(decoding: bytes, as: UTF8.self)
    }
}

/// C copies of Swift strings, freed with the value.
private final class CStrings {
    let pointers: [UnsafePointer<CChar>?]

    init(_ strings: [String]) {
        pointers = strings.map { strdup($0).map { UnsafePointer($0) } }
    }

    deinit {
        for pointer in pointers { free(UnsafeMutablePointer(mutating: pointer)) }
    }
}

extension TLSLibrary {
    /// Empties this thread's OpenSSL error queue into one line: "reason; reason" ("" if empty).
    static func drainErrors() -> String {
        var buffer = [CChar](repeating: 0, count: 1024)
        cpt_error_drain(&buffer, buffer.count)
        return String(cText: buffer)
    }
}
