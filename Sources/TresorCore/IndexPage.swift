/// A page of a disk's index: the chunk IDs of up to `entriesPerPage` consecutive chunks, the zero ID
/// standing for an all-zero chunk that was not stored.
///
/// ```
/// offset size field
///      0    4 magic "TRIX"
///      4    1 format version (1)
///      5    3 reserved, 0
///      8    4 entry count n (little-endian), 1...entriesPerPage
///     12 32·n chunk IDs
/// ```
/// Pages are stored in the clear under the SHA-256 of their bytes, so the vault can check references and
/// collect garbage without keys, and consecutive recovery points share the pages of unchanged regions.
/// Their integrity comes from the signed manifest, which lists every page's hash.
public enum IndexPage {
    public static let magic: [UInt8] = Array("TRIX".utf8)
    public static let currentVersion: UInt8 = 1
    /// 256 entries: an 8 KiB page covers 256 MiB of disk at 1 MiB chunks.
    public static let entriesPerPage = 256
    static let headerByteCount = 12

    public static func encode(_ entries: ArraySlice<ChunkID>) -> [UInt8] {
        precondition(!entries.isEmpty && entries.count <= entriesPerPage)
        var out = [UInt8](repeating: 0, count: headerByteCount + entries.count * ChunkID.byteCount)
        out.withUnsafeMutableBytes { p in
            for (i, b) in magic.enumerated() { p[i] = b }
            p[4] = currentVersion
            p.storeBytes(of: UInt32(entries.count).littleEndian, toByteOffset: 8, as: UInt32.self)
            var offset = headerByteCount
            for id in entries {
                id.write(to: UnsafeMutableRawBufferPointer(rebasing: p[offset..<offset + ChunkID.byteCount]))
                offset += ChunkID.byteCount
            }
        }
        return out
    }

    public static func decode(_ bytes: [UInt8], name: String) throws -> [ChunkID] {
        try bytes.withUnsafeBytes { p in
            guard p.count >= headerByteCount, Array(p[0..<4]) == magic else {
                throw TresorError(.corruptObject, "index page \(name) is not a Tresor index page")
            }
            guard p[4] == currentVersion else {
                throw TresorError(.unsupportedFormat, "index page \(name) has format version \(p[4]); this Tresor reads version \(currentVersion)",
                                  action: "upgrade Tresor")
            }
            let count = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
            guard count >= 1, count <= entriesPerPage, p.count == headerByteCount + count * ChunkID.byteCount else {
                throw TresorError(.corruptObject, "index page \(name) has a bad entry count")
            }
            return (0..<count).map { i in
                let start = headerByteCount + i * ChunkID.byteCount
                return ChunkID(bytes: UnsafeRawBufferPointer(rebasing: p[start..<start + ChunkID.byteCount]))
            }
        }
    }
}
