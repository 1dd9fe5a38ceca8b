import TresorCore

extension Vault {
    /// The catalog row a stored chunk object stands for, read from its header alone (no keys): nil when
    /// the store lacks the object, or its header is unsound or names another chunk.
    func storedChunk(domain: DomainID, id: ChunkID) throws -> StoredChunk? {
        let key = ObjectKey.chunk(domain: domain, id: id)
        guard let size = try self.store.size(of: key) else { return nil }
        var prefix = [UInt8](repeating: 0, count: ChunkObjectHeader.deltaByteCount)
        let n = try prefix.withUnsafeMutableBytes { try self.store.readPrefix(key, into: $0) }
        guard let header = try? prefix.withUnsafeBytes({
                  try ChunkObjectHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<n]), objectLength: size, name: key.path)
              }),
              header.chunkID == id
        else { return nil }
        return StoredChunk(id: id, storedBytes: size, dataKeyID: header.dataKeyID, base: header.base)
    }
}
