import NIOSSL
import TresorCore

/// A failed TLS set-up as a user can act on it. BoringSSL's own text names its source files and error
/// numbers, which tell an operator nothing; the reason and what to do instead are what they need.
enum TLSFailure {
    static func error(_ failure: any Error, url: String) -> TresorError {
        let text = String(describing: failure)
        let (reason, action): (String, String)
        if let extra = failure as? NIOSSLExtraError, extra == .failedToValidateHostname || extra == .serverHostnameImpossibleToMatch {
            reason = "its certificate does not name the host in the URL"
            action = "use a host name the certificate holds, or pin the certificate with --tls-fingerprint"
        } else if text.contains("CERTIFICATE_VERIFY_FAILED") {
            reason = "its certificate is not signed by a CA this client trusts"
            action = "give the CA (or the server's certificate) with --tls-ca, or its fingerprint with --tls-fingerprint"
        } else if text.contains("WRONG_VERSION_NUMBER") || text.contains("HTTP_REQUEST") {
            reason = "it does not answer in TLS there"
            action = "if 'tresor-vault serve' printed an http:// address, use that"
        } else {
            reason = "the handshake failed (\(Self.shortReason(text)))"
            action = "check the certificate 'tresor-vault serve' was given, and --tls-ca or --tls-fingerprint here"
        }
        return TresorError(.tlsFailed, "TLS with \(url) failed: \(reason)", action: action)
    }

    /// "CERTIFICATE_VERIFY_FAILED" out of "...:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /path...".
    private static func shortReason(_ text: String) -> String {
        guard let marker = text.firstRange(of: "OPENSSL_internal:") else { return String(text.prefix(120)) }
        return String(text[marker.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" })
    }
}
