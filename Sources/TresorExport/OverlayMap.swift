import TresorCore

/// The map file beside an overlay (`OVERLAY.map`): which 4 KiB blocks the overlay holds. Rewritten whole and
/// atomically (temporary file, fsync, rename) at each flush, after the overlay's data is durable.
struct OverlayMap {
    static let magic = Array("TRSROVL1".utf8)
    static let version: UInt32 = 1
    static let headerLength = 128

    let path: String
    let diskSize: Int64
    let baseName: String

    static func words(diskSize: Int64) -> Int {
        let blocks = Int((diskSize + Int64(OverlayDisk.blockSize) - 1) / Int64(OverlayDisk.blockSize))
        return (blocks + 63) / 64
    }

    func encode(_ bits: [UInt64]) -> [UInt8] {
        var out = Self.magic
        out.appendLittleEndian(Self.version)
        out.appendLittleEndian(UInt32(OverlayDisk.blockSize))
        out.appendLittleEndian(UInt64(self.diskSize))
        var name = Array(self.baseName.utf8.prefix(64))
        name += [UInt8](repeating: 0, count: 64 - name.count)
        out += name
        out.appendLittleEndian(UInt64(bits.count))
        out.appendLittleEndian(out.withUnsafeBytes { CRC32C.checksum($0) })
        out += [UInt8](repeating: 0, count: Self.headerLength - out.count)
        var body: [UInt8] = []
        body.reserveCapacity(bits.count * 8 + 4)
        for word in bits { body.appendLittleEndian(word) }
        body.appendLittleEndian(body.withUnsafeBytes { CRC32C.checksum($0) })
        return out + body
    }

    func save(_ bits: [UInt64]) throws {
        try AtomicFile.write(self.encode(bits), to: self.path, mode: 0o600)
    }

    /// The held blocks, once the map proves to be this overlay's: same base, same size, intact.
    func load() throws -> [UInt64] {
        let bytes: [UInt8]
        do {
            bytes = try AtomicFile.read(self.path)
        } catch {
            throw TresorError(.overlayInvalid, "the overlay's map \(self.path) cannot be read", action: "an overlay without its map cannot be continued; start a new one")
        }
        let words = Self.words(diskSize: self.diskSize)
        guard bytes.count == Self.headerLength + words * 8 + 4, Array(bytes[0..<8]) == Self.magic,
              bytes.littleEndian(UInt32.self, at: 96) == bytes.withUnsafeBytes({ CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<96])) }),
              bytes.withUnsafeBytes({ CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[Self.headerLength..<bytes.count - 4])) })
                == bytes.littleEndian(UInt32.self, at: bytes.count - 4) else {
            throw TresorError(.overlayInvalid, "the overlay's map \(self.path) is damaged or not a map of this disk's size",
                              action: "an overlay without its map cannot be continued; start a new one")
        }
        let name = String(decoding: bytes[24..<88].prefix { $0 != 0 }, as: UTF8.self)
        guard name == self.baseName, Int64(bytes.littleEndian(UInt64.self, at: 16)) == self.diskSize else {
            throw TresorError(.overlayInvalid, "overlay \(self.path) was made over \(name), not \(self.baseName)",
                              action: "export the recovery point it was made over, or start a new overlay")
        }
        return (0..<words).map { bytes.littleEndian(UInt64.self, at: Self.headerLength + 8 * $0) }
    }
}
