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

    @Test func aMissingObjectIsNamed() throws {
        let dir = TemporaryDirectory()
        let store = try DirectoryObjectStore(root: dir.path)
        let key = ObjectKey.manifest(recoveryPoint: "nope")
        #expect(try store.size(of: key) == nil)
        #expect { try store.get(key) } throws: { ($0 as? TresorError)?.code == .missingObject && "\($0)".contains("nope") }
    }
}
