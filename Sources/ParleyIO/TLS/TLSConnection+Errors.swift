import CParleyTLS
#if canImport(Glibc)
#elseif canImport(Darwin)
import Darwin
#endif

// The words of TLS failures: OpenSSL's reason, then what the user can change.

extension TLSConnection {
    /// X509 verification results (x509_vfy.h) that get a sentence of their own.
    private enum VerifyResult {
        static let unableToGetIssuer = 2
        static let notYetValid = 9
        static let expired = 10
        static let selfSigned = 18
        static let selfSignedInChain = 19
        static let unableToGetIssuerLocally = 20
        static let unableToVerifyLeaf = 21
        static let hostNameMismatch = 62
        static let ipAddressMismatch = 64
    }

    /// Whether this side checks the peer's certificate (so a verify result means something).
    private var verifiesPeer: Bool {
        let configuration = context.configuration
        return context.role == .client ? configuration.certificateVerification == .full
                                       : configuration.clientCertificateRequired
    }

    func handshakeError(_ result: Int32, _ errorNumber: Int32) -> TLSError {
        let reasons = TLSLibrary.drainErrors()
        switch Int(result) {
        case CPT_CLOSED, CPT_END_OF_STREAM:
            return .handshakeFailed("the peer closed the connection during the TLS handshake" + (reasons.isEmpty ? "" : ": \(reasons)"))
        case CPT_SYSCALL:
            return .handshakeFailed("TLS handshake failed: \(Self.systemError(errorNumber))")
        default:
            let verify = cpt_session_verify_result(session)
            if verifiesPeer && verify != 0 {
                return .certificateVerificationFailed("certificate verification failed: \(verificationReason(verify))")
            }
            return .handshakeFailed("TLS handshake failed: \(reasons.isEmpty ? "unknown reason" : reasons)\(Self.hint(reasons))")
        }
    }

    func connectionError(_ result: Int32, _ errorNumber: Int32) -> TLSError {
        let reasons = TLSLibrary.drainErrors()
        if Int(result) == CPT_SYSCALL {
            return .connectionFailed("TLS connection failed: \(Self.systemError(errorNumber))")
        }
        return .connectionFailed("TLS connection failed: \(reasons.isEmpty ? "unknown reason" : reasons)\(Self.hint(reasons))")
    }

    private func verificationReason(_ result: Int) -> String {
        let text = cpt_verify_result_text(result).map { String(cString: $0) } ?? "verification error \(result)"
        switch Int(result) {
        case VerifyResult.hostNameMismatch:
            return "host name mismatch: expected \(serverName ?? "a name"), which the certificate does not name"
        case VerifyResult.ipAddressMismatch:
            return "IP address mismatch: expected \(serverName ?? "an address"), which the certificate does not name"
        case VerifyResult.unableToGetIssuer, VerifyResult.selfSigned, VerifyResult.selfSignedInChain,
             VerifyResult.unableToGetIssuerLocally, VerifyResult.unableToVerifyLeaf:
            return "\(text): the certificate is not issued by a trusted CA (add its CA with TLSConfiguration.trust)"
        case VerifyResult.expired, VerifyResult.notYetValid:
            return "\(text) (check the certificate's dates and this machine's clock)"
        default:
            return text
        }
    }

    /// What OpenSSL's reasons mean for the user, as " (...)", or "".
    private static func hint(_ reasons: String) -> String {
        let hints: [(String, String)] = [
            ("certificate required", "the server requires a client certificate: set certificateChain and privateKey"),
            ("peer did not return a certificate", "mutual TLS: the client sent no certificate"),
            ("alert unknown ca", "the peer does not trust the CA of our certificate"),
            ("alert bad certificate", "the peer refused our certificate"),
            ("alert certificate", "the peer refused our certificate"),
            ("wrong version number", "the peer does not speak TLS here"),
            ("http request", "the peer sent plaintext HTTP to a TLS port"),
            ("packet length too long", "the peer does not speak TLS here"),
            ("unsupported protocol", "no TLS version in common: TLS 1.2 or later is needed"),
            ("alert protocol version", "no TLS version in common: TLS 1.2 or later is needed"),
            ("no shared cipher", "no cipher suite in common"),
        ]
        guard let hint = hints.first(where: { reasons.contains($0.0) }) else { return "" }
        return " (\(hint.1))"
    }

    private static func systemError(_ errorNumber: Int32) -> String {
        errorNumber == 0 ? "the connection was reset" : String(cString: strerror(errorNumber))
    }
}
