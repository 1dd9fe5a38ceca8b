import TresorCore
import TresorCrypto

/// The client's change cache (docs/formats.md, "Change cache"; Keys/README.md, "Change cache"): per disk,
/// for every chunk position, the keyed chunk ID the last backup computed and a Poly1305 tag of the content
/// it was computed from. A backup that reads content whose tag still matches takes the ID from here
/// instead of computing HMAC-SHA256 over the chunk again, which is most of an incremental's CPU time.
///
/// The cache is advisory: a file that is missing, torn, from another chunk size or disk size, or whose MAC
/// fails is ignored as a whole, and the backup computes every ID.
struct ChangeCache: Sendable {
    static let magic: [UInt8] = Array("TRCC".utf8)
    static let version: UInt8 = 1
    static let headerByteCount = 64
    static let entryByteCount = 64
    static let nonceByteCount = 16

    let directory: String
    /// Authenticates whole files and names them (HKDF of the domain's ID key).
    private let fileKey: SymmetricKey
    /// Derives each entry's one-time Poly1305 key.
    private let tagKey: SymmetricKey

    init(directory: String, idKey: SymmetricKey) throws {
        self.directory = directory
        self.fileKey = try HKDF.deriveKey(from: idKey, info: "tresor change cache v1 file")
        self.tagKey = try HKDF.deriveKey(from: idKey, info: "tresor change cache v1 tag")
    }

    /// Binds a file to one disk of one VM: its name and a header field, so files cannot be swapped.
    func owner(vmID: String, diskID: String) -> [UInt8] {
        HMACSHA256.authenticate(Array("owner\u{0}\(vmID)\u{0}\(diskID)".utf8), key: self.fileKey)
    }

    func path(owner: [UInt8]) -> String { "\(self.directory)/\(Hex.encode(owner.prefix(16))).tcc" }

    /// The entries stored for a disk (`chunkCount` × 64 bytes), or nil when the file is absent or does not
    /// hold exactly this disk at this chunk size with an intact MAC.
    func load(vmID: String, diskID: String, chunkSize: Int, diskSize: Int64, chunkCount: Int) -> [UInt8]? {
        let owner = self.owner(vmID: vmID, diskID: diskID)
        guard let file = try? AtomicFile.read(self.path(owner: owner)) else { return nil }
        let entriesEnd = Self.headerByteCount + chunkCount * Self.entryByteCount
        guard file.count == entriesEnd + HMACSHA256.byteCount else { return nil }
        let mac = file.withUnsafeBytes { HMACSHA256.authenticate(UnsafeRawBufferPointer(rebasing: $0[0..<entriesEnd]), key: self.fileKey) }
        guard ConstantTime.equals(mac, Array(file[entriesEnd...])) else { return nil }
        guard Array(file[0..<Self.headerByteCount]) == Self.header(chunkSize: chunkSize, diskSize: diskSize, chunkCount: chunkCount,
                                                                   owner: owner) else { return nil }
        return Array(file[Self.headerByteCount..<entriesEnd])
    }

    /// Replaces a disk's file with `entries` (what this backup computed or kept).
    func store(_ entries: UnsafeRawBufferPointer, vmID: String, diskID: String, chunkSize: Int, diskSize: Int64) throws {
        let owner = self.owner(vmID: vmID, diskID: diskID)
        var file = Self.header(chunkSize: chunkSize, diskSize: diskSize, chunkCount: entries.count / Self.entryByteCount, owner: owner)
        file.reserveCapacity(file.count + entries.count + HMACSHA256.byteCount)
        file.append(contentsOf: entries)
        file += file.withUnsafeBytes { HMACSHA256.authenticate($0, key: self.fileKey) }
        try POSIX.makeDirectories(self.directory)
        try AtomicFile.write(file, to: self.path(owner: owner))
    }

    /// Poly1305 of a chunk's content under the one-time key HMAC-SHA256(tag key, nonce ‖ index as 64-bit LE).
    func tag(_ chunk: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, index: Int, into out: UnsafeMutableRawBufferPointer) {
        var input = [UInt8](nonce)
        input.appendLittleEndian(UInt64(index))
        self.tagKey.withUnsafeBytes { tagKey in
            input.withUnsafeBytes { input in
                Poly1305.authenticate(chunk, keyFrom: { HMACSHA256.authenticate(input, key: tagKey, into: $0) }, into: out)
            }
        }
    }

    static func header(chunkSize: Int, diskSize: Int64, chunkCount: Int, owner: [UInt8]) -> [UInt8] {
        var header = Self.magic + [Self.version, 0, 0, 0]
        header.appendLittleEndian(UInt32(chunkSize))
        header.appendLittleEndian(UInt32(0))
        header.appendLittleEndian(UInt64(diskSize))
        header.appendLittleEndian(UInt64(chunkCount))
        header += owner
        return header
    }
}
