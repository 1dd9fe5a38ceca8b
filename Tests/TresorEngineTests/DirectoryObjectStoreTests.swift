import Foundation
import Testing
import TresorChunkStore
import TresorCore
import TresorTestSupport

/// The directory store's direct-I/O paths around the alignment boundaries, against plain file reads.
struct DirectoryObjectStoreTests {
    @Test(arguments: [1, 4095, 4096, 4097, 8192, 1 << 20, (1 << 20) + 92, (4 << 20) + 92])
    func objectsRoundTripWhateverTheirLength(length: Int) throws {
        let dir = TemporaryDirectory()
        let store = try DirectoryObjectStore(root: dir.path)
        let key = ObjectKey.chunk(domain: try DomainID("d"), id: ChunkID(bytes: [UInt8](repeating: 7, count: 32)))
        let capacity = ((length + 4095) & ~4095) + 4096
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 4096)
        defer { buffer.deallocate() }
        var generator = SystemRandomNumberGenerator()
        for i in 0..<length { buffer[i] = UInt8.random(in: 0...255, using: &generator) }
        let written = Array(buffer[0..<length])
        try store.put(key, bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<length]))

        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file(key.path))) == Data(written))
        #expect(try store.size(of: key) == length)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        #expect(try store.read(key, into: buffer) == length)
        #expect(Array(buffer[0..<length]) == written)
        #expect(try store.get(key) == written)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("tmp")).isEmpty)
    }

    /// Several chunks at once, as any store answers them: each at an aligned offset, in the order asked,
    /// repeats included; a missing one is named.
    @Test func severalChunksAreReadAtAlignedOffsetsInTheOrderAsked() throws {
        let dir = TemporaryDirectory()
        let store = try DirectoryObjectStore(root: dir.path)
        let domain = try DomainID("d")
        let objects = [5000, 1, 4096].enumerated().map { n, length in (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) } }
        let ids = objects.indices.map { ChunkID(bytes: [UInt8](repeating: UInt8($0 + 1), count: 32)) }
        for (id, object) in zip(ids, objects) { try store.put(.chunk(domain: domain, id: id), bytes: object) }
        let asked = [ids[2], ids[0], ids[1], ids[0]]
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ChunkReadBatch.bufferBytes(count: asked.count, chunkSize: 8192),
                                                            alignment: 4096)
        defer { buffer.deallocate() }
        let ranges = try store.readChunks(domain: domain, ids: asked, into: buffer)
        #expect(ranges.allSatisfy { $0.lowerBound % 4096 == 0 })
        #expect(ranges.map { Array(buffer[$0]) } == [objects[2], objects[0], objects[1], objects[0]])
        let missing = ChunkID(bytes: [UInt8](repeating: 9, count: 32))
        #expect { try store.readChunks(domain: domain, ids: [ids[0], missing], into: buffer) } throws: {
            ($0 as? TresorError)?.code == .missingObject && "\($0)".contains(missing.hex)
        }
    }

    @Test func aMissingObjectIsNamed() throws {
        let dir = TemporaryDirectory()
        let store = try DirectoryObjectStore(root: dir.path)
        let key = ObjectKey.manifest(recoveryPoint: "nope")
        #expect(try store.size(of: key) == nil)
        #expect { try store.get(key) } throws: { ($0 as? TresorError)?.code == .missingObject && "\($0)".contains("nope") }
    }
}
