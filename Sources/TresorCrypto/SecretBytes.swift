internal import CLibcrypto

/// Key material: a fixed buffer that is never copied, never printed, and wiped with `OPENSSL_cleanse`
/// when its owner goes away.
///
/// Being `~Copyable`, the compiler refuses any implicit copy: the bytes exist once in memory, and
/// `deinit` is guaranteed to run for that one instance.
public struct SecretBytes: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: `storage` is allocated in `init`, written only there, and freed only in
    // `deinit`; every other access is a read, so sharing across tasks cannot race.
    private let storage: UnsafeMutableRawBufferPointer

    /// `count` bytes from the OpenSSL CSPRNG.
    public init(randomCount count: Int) throws {
        self.storage = .allocate(byteCount: max(count, 1), alignment: 16)
        guard CLibcrypto_random(self.storage.baseAddress, count) == 1 else {
            CLibcrypto_cleanse(self.storage.baseAddress, self.storage.count)
            self.storage.deallocate()
            throw CryptoError(.libraryFailure, operation: "random")
        }
        self.count = count
    }

    /// Copies `bytes` in. The caller stays responsible for wiping its own copy.
    public init(copying bytes: UnsafeRawBufferPointer) {
        self.storage = .allocate(byteCount: max(bytes.count, 1), alignment: 16)
        if bytes.count > 0 { self.storage.copyMemory(from: bytes) }
        self.count = bytes.count
    }

    /// Copies `bytes` in and wipes the array's storage.
    public init(consuming bytes: inout [UInt8]) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeMutableBytes {
            if $0.count > 0 { storage.copyMemory(from: UnsafeRawBufferPointer($0)) }
            CLibcrypto_cleanse($0.baseAddress, $0.count)
        }
        self.storage = storage
        self.count = bytes.count
        bytes = []
    }

    /// Lets `body` fill `count` fresh bytes (a KDF's output, an unwrapped key).
    public init(count: Int, initializingWith body: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        do {
            try body(UnsafeMutableRawBufferPointer(rebasing: storage[0..<count]))
        } catch {
            CLibcrypto_cleanse(storage.baseAddress, storage.count)
            storage.deallocate()
            throw error
        }
        self.storage = storage
        self.count = count
    }

    public let count: Int

    public func withUnsafeBytes<R: ~Copyable>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: self.storage[0..<self.count]))
    }

    /// Constant-time equality, for tests and key checks.
    public func constantTimeEquals(_ other: borrowing SecretBytes) -> Bool {
        guard self.count == other.count else { return false }
        return other.withUnsafeBytes { o in
            CLibcrypto_memcmp(self.storage.baseAddress, o.baseAddress, self.count) == 0
        }
    }

    /// A copy that the caller must protect as it would this one (for example to seal it into a file).
    public func duplicate() -> SecretBytes {
        self.withUnsafeBytes { SecretBytes(copying: $0) }
    }

    deinit {
        CLibcrypto_cleanse(self.storage.baseAddress, self.storage.count)
        self.storage.deallocate()
    }
}

/// A shared, immutable handle on key material, so that many pipeline workers can use one key without
/// copying its bytes. Its description never shows the bytes.
public final class SymmetricKey: Sendable, CustomStringConvertible {
    public let bytes: SecretBytes

    public init(_ bytes: consuming SecretBytes) {
        self.bytes = bytes
    }

    /// A fresh random key of `count` bytes (32 for AES-256).
    public convenience init(randomCount count: Int = 32) throws {
        self.init(try SecretBytes(randomCount: count))
    }

    public var count: Int { self.bytes.count }

    public func withUnsafeBytes<R: ~Copyable>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try self.bytes.withUnsafeBytes(body)
    }

    public var description: String { "SymmetricKey(\(self.count) bytes, redacted)" }
}
