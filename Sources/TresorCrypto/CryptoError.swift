/// A failure inside a cryptographic primitive. It never carries key bytes, plaintext or OpenSSL's
/// error strings (which can echo input), only which operation failed.
public struct CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A MAC, tag or signature did not verify: the data was altered or the key is wrong.
        case authenticationFailure
        /// A key, nonce or wrapped key had the wrong length.
        case invalidLength
        /// The library refused the operation (out of memory, bad parameters).
        case libraryFailure
    }

    public let code: Code
    /// The operation, e.g. "AES-256-GCM open"; never secret.
    public let operation: String

    public init(_ code: Code, operation: String) {
        self.code = code
        self.operation = operation
    }

    public var description: String { "\(self.operation): \(self.code.rawValue)" }
}
