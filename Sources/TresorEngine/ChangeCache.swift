import Glibc
import TresorCore
import TresorCrypto

/// The client's change cache (docs/formats.md, "Change cache"; Keys/README.md, "Change cache"): per disk,
/// a record for every chunk position that held data at the last backup, with the keyed chunk ID computed
/// from that content, an 8-byte Poly1305 tag of each of its 4 KiB blocks, and the whole chunk in the vault
/// that a delta of the next content can be built over. A backup whose chunk still matches every block tag
/// takes the ID from here instead of computing HMAC-SHA256 over the chunk; one whose chunk changed knows
/// from the tags which blocks changed, and stores them as a delta without reading the old version.
///
/// The cache is advisory: a file that is missing, or from another chunk size or disk size, is ignored; a
/// record whose MAC fails is ignored alone. Records are read and written in place with `pread`/`pwrite`,
/// so a backup holds none of them in memory.
struct ChangeCache: Sendable {
    static let magic: [UInt8] = Array("TRCC".utf8)
    static let version: UInt8 = 2
    static let headerByteCount = 64
    static let blockSize = ChunkDelta.blockSize

    let directory: String
    /// Authenticates records and names files (HKDF of the domain's ID key).
    private let fileKey: SymmetricKey
    /// Derives each record's block-key seed.
    private let tagKey: SymmetricKey

    init(directory: String, idKey: SymmetricKey) throws {
        self.directory = directory
        self.fileKey = try HKDF.deriveKey(from: idKey, info: "tresor change cache v2 file")
        self.tagKey = try HKDF.deriveKey(from: idKey, info: "tresor change cache v2 tag")
    }

    /// Binds a file to one disk of one VM: its name and a header field, so files cannot be swapped.
    func owner(vmID: String, diskID: String) -> [UInt8] {
        HMACSHA256.authenticate(Array("owner\u{0}\(vmID)\u{0}\(diskID)".utf8), key: self.fileKey)
    }

    func path(owner: [UInt8]) -> String { "\(self.directory)/\(Hex.encode(owner.prefix(16))).tcc" }

    static func header(chunkSize: Int, layout: ChangeRecordLayout, diskSize: Int64, chunkCount: Int, owner: [UInt8]) -> [UInt8] {
        var header = Self.magic + [Self.version, 0, 0, 0]
        header.appendLittleEndian(UInt32(chunkSize))
        header.appendLittleEndian(UInt32(layout.byteCount))
        header.appendLittleEndian(UInt64(diskSize))
        header.appendLittleEndian(UInt64(chunkCount))
        header += owner
        return header
    }

    /// The seed of a record's block keys: HMAC-SHA256(tag key, nonce ‖ position as 64-bit LE).
    func seed(nonce: UnsafeRawBufferPointer, position: Int, into out: UnsafeMutableRawBufferPointer) {
        var input = [UInt8](nonce)
        input.appendLittleEndian(UInt64(position))
        self.tagKey.withUnsafeBytes { key in input.withUnsafeBytes { HMACSHA256.authenticate($0, key: key, into: out) } }
    }

    /// The first 16 bytes of HMAC-SHA256(file key, header ‖ position as 64-bit LE ‖ record before its MAC).
    func mac(header: [UInt8], position: Int, record: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        var input = header
        input.appendLittleEndian(UInt64(position))
        input.append(contentsOf: record)
        var full = [UInt8](repeating: 0, count: HMACSHA256.byteCount)
        self.fileKey.withUnsafeBytes { key in
            input.withUnsafeBytes { data in full.withUnsafeMutableBytes { HMACSHA256.authenticate(data, key: key, into: $0) } }
        }
        out.copyBytes(from: full.prefix(ChangeRecordLayout.macByteCount))
    }

    /// The file of a disk, open for reading and updating records, and whether it was found: a file that is
    /// absent, or does not describe exactly this disk at this chunk size, is replaced by an empty one.
    func openFile(vmID: String, diskID: String, chunkSize: Int, diskSize: Int64, chunkCount: Int) throws -> (file: ChangeCacheFile, found: Bool) {
        let owner = self.owner(vmID: vmID, diskID: diskID)
        let layout = ChangeRecordLayout(chunkSize: chunkSize)
        let header = Self.header(chunkSize: chunkSize, layout: layout, diskSize: diskSize, chunkCount: chunkCount, owner: owner)
        let path = self.path(owner: owner)
        let size = Self.headerByteCount + chunkCount * layout.byteCount
        if let fd = try? POSIX.open(path, O_RDWR | O_CLOEXEC) {
            var found = [UInt8](repeating: 0, count: Self.headerByteCount)
            if (try? POSIX.fileSize(fd, path: path)) == size,
               (try? found.withUnsafeMutableBytes { try POSIX.preadAll(fd, into: $0, at: 0, path: path) }) == Self.headerByteCount,
               ConstantTime.equals(found, header) {
                return (ChangeCacheFile(cache: self, fd: fd, path: path, header: header, layout: layout), true)
            }
            close(fd)
        }
        try POSIX.makeDirectories(self.directory)
        let fd = try POSIX.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let file = ChangeCacheFile(cache: self, fd: fd, path: path, header: header, layout: layout)
        // Positions without a record stay holes, which read as zeros: "no record".
        guard ftruncate(fd, off_t(size)) == 0 else { throw POSIX.error("ftruncate", path) }
        try header.withUnsafeBytes { try POSIX.pwriteAll(fd, $0, at: 0, path: path) }
        return (file, false)
    }
}
