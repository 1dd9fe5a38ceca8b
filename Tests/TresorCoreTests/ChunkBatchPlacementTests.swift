import Testing
import TresorCore

/// A batch received in parts of any size lands object by object at aligned offsets, agrees with the
/// whole-body parser, and refuses what it refuses with the same message.
struct ChunkBatchPlacementTests {
    func batch(_ sizes: [Int]) -> (bytes: [UInt8], ids: [ChunkID], objects: [[UInt8]]) {
        var batch = ChunkBatchWriter(body: [UInt8]())
        var ids: [ChunkID] = []
        var objects: [[UInt8]] = []
        for (n, size) in sizes.enumerated() {
            let id = ChunkID(bytes: [UInt8](repeating: UInt8(n + 1), count: 32))
            let object = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ n) }
            object.withUnsafeBytes { batch.append(id: id, object: $0) }
            ids.append(id)
            objects.append(object)
        }
        return (batch.body, ids, objects)
    }

    /// Feeds `body` in parts of `partSize` bytes into a buffer sized as a server sizes it.
    func place(_ body: [UInt8], partSize: Int) -> (result: Result<[ChunkBatch.Entry], any Error>, buffer: [UInt8]) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ChunkBatchPlacement.capacity(forBody: body.count),
                                                            alignment: ChunkBatchPlacement.alignment)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        var placement = ChunkBatchPlacement()
        body.withUnsafeBytes { all in
            var offset = 0
            while offset < all.count {
                let end = min(offset + partSize, all.count)
                placement.place(UnsafeRawBufferPointer(rebasing: all[offset..<end]), into: buffer)
                offset = end
            }
        }
        return (Result { try placement.finish() }, Array(buffer))
    }

    @Test func placesEveryObjectAlignedWhateverThePartSizes() throws {
        let (body, ids, objects) = self.batch([1, 4095, 4096, 4097, 70_000, 3])
        for partSize in [1, 5, 12, 36, 37, 4096, 16_384, body.count] {
            let (result, buffer) = self.place(body, partSize: partSize)
            let entries = try result.get()
            #expect(entries.map(\.id) == ids, "parts of \(partSize)")
            #expect(entries.allSatisfy { $0.range.lowerBound % ChunkBatchPlacement.alignment == 0 }, "parts of \(partSize)")
            #expect(entries.map { Array(buffer[$0.range]) } == objects, "parts of \(partSize)")
        }
    }

    @Test func refusesWhatTheWholeBodyParserRefusesWithItsMessage() throws {
        let (good, _, _) = self.batch([10, 20])
        var badCount = good
        badCount[8] = 3
        var badVersion = good
        badVersion[4] = 9
        var tooLong = good
        tooLong.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(ChunkBatch.maximumObject + 1).littleEndian, toByteOffset: 12 + 32, as: UInt32.self) }
        let bodies: [(String, [UInt8])] = [
            ("cut in an object", Array(good.dropLast(5))),
            ("cut in an entry header", Array(good.prefix(12 + 36 + 10 + 20))),
            ("trailing bytes", good + [1, 2, 3]),
            ("an entry announced but missing", badCount),
            ("an unknown version", badVersion),
            ("an object over the limit", tooLong),
            ("no header", Array(good.prefix(7))),
            ("another magic", [UInt8]("TRCX".utf8) + good.dropFirst(4)),
        ]
        for (what, body) in bodies {
            let whole = body.withUnsafeBytes { all in Result { try ChunkBatch.entries(in: all) } }
            guard case .failure(let expected as TresorError) = whole else {
                Issue.record("the whole-body parser took a batch with \(what)")
                continue
            }
            for partSize in [1, 13, body.count] {
                guard case .failure(let error as TresorError) = self.place(body, partSize: partSize).result else {
                    Issue.record("placement took a batch with \(what), parts of \(partSize)")
                    continue
                }
                #expect(error.code == expected.code && error.message == expected.message, "\(what), parts of \(partSize): \(error.message)")
            }
        }
    }
}
