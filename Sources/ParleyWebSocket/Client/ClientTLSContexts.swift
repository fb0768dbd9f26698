import ParleyIO
import Synchronization

/// The TLS contexts of `wss://` connections, one per configuration, made on first use and shared
/// by later connections (loading the system's CAs takes milliseconds; a reconnecting client
/// should not pay it per attempt). PEM files are read when a configuration is first seen.
final class ClientTLSContexts: Sendable {
    static let shared = ClientTLSContexts()

    /// Configurations remembered at most; when full, the cache starts over. 16: a process talks
    /// to a handful of servers with a handful of settings.
    static let limit = 16

    private let contexts = Mutex<[TLSConfiguration: TLSContext]>([:])

    /// The context for `configuration` (ALPN `http/1.1` added when it names no protocol).
    /// - Throws: ``WebSocketError/tls(_:)`` when OpenSSL is missing or the configuration cannot be loaded.
    func context(for configuration: TLSConfiguration) throws(WebSocketError) -> TLSContext {
        var configuration = configuration
        if configuration.applicationProtocols.isEmpty { configuration.applicationProtocols = ["http/1.1"] }
        if let known = contexts.withLock({ $0[configuration] }) { return known }
        let made: TLSContext
        do { made = try TLSContext(configuration: configuration, role: .client) } catch { throw .tls(error) }
        contexts.withLock { contexts in
            if contexts.count >= Self.limit { contexts.removeAll() }
            contexts[configuration] = made
        }
        return made
    }
}
