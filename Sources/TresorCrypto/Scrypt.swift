internal import CLibcrypto

/// scrypt (RFC 7914): turns a passphrase into a key, at a memory and time cost set by N, r and p.
public enum Scrypt {
    public struct Parameters: Sendable, Equatable, Codable {
        public var n: UInt64
        public var r: UInt64
        public var p: UInt64

        public init(n: UInt64, r: UInt64, p: UInt64) {
            self.n = n
            self.r = r
            self.p = p
        }

        /// Tresor's key-store default: N = 2^16, r = 8, p = 1 (64 MiB and about 0.2 s per guess here).
        /// Higher N costs every command that unlocks a KEK the same memory and time.
        public static let keyStoreDefault = Parameters(n: 1 << 16, r: 8, p: 1)
        /// The weakest parameters a key store may carry (N = 2^16, r = 8), so a tampered file
        /// cannot lower the cost of guessing.
        public static let minimum = Parameters(n: 1 << 16, r: 8, p: 1)

        /// Memory scrypt needs: 128 · r · N bytes plus the p lanes.
        var memoryBytes: UInt64 { 128 * self.r * self.n + 128 * self.r * self.p + 4096 }
    }

    public static func derive(passphrase: UnsafeRawBufferPointer, salt: [UInt8], parameters: Parameters,
                              into out: UnsafeMutableRawBufferPointer) throws {
        let one = UnsafeRawPointer(bitPattern: 1)
        let ok = salt.withUnsafeBytes { s in
            CLibcrypto_scrypt(passphrase.baseAddress ?? one, passphrase.count, s.baseAddress ?? one, s.count,
                              parameters.n, parameters.r, parameters.p, parameters.memoryBytes * 2,
                              out.baseAddress, out.count)
        }
        guard ok == 1 else { throw CryptoError(.libraryFailure, operation: "scrypt") }
    }

    public static func deriveKey(passphrase: borrowing SecretBytes, salt: [UInt8],
                                 parameters: Parameters) throws -> SymmetricKey {
        let bytes = try passphrase.withUnsafeBytes { pass in
            try SecretBytes(count: 32) { out in
                try derive(passphrase: pass, salt: salt, parameters: parameters, into: out)
            }
        }
        return SymmetricKey(bytes)
    }
}
