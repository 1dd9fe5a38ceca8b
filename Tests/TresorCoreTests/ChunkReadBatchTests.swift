import Testing
import TresorCore

/// A chunk read batch as a server lays it out reads back, object by object, as the client parses it; a
/// body that does not add up is refused whole.
struct ChunkReadBatchTests {
    /// A body as the server builds it: table, then each object at its aligned offset, padding zeroed.
    func body(_ objects: [[UInt8]]) throws -> [UInt8] {
        let lengths = objects.map(\.count)
        let layout = try #require(ChunkReadBatch.layout(lengths: lengths))
        var bytes = [UInt8](repeating: 0xEE, count: layout.total)
        bytes.withUnsafeMutableBytes { raw in
            ChunkReadBatch.writeTable(lengths: lengths, into: raw)
            for (object, offset) in zip(objects, layout.offsets) {
                raw.baseAddress!.advanced(by: offset).copyMemory(from: object, byteCount: object.count)
                let end = min(ChunkReadBatch.alignedLength(offset + object.count), layout.total)
                UnsafeMutableRawBufferPointer(rebasing: raw[offset + object.count..<end]).initializeMemory(as: UInt8.self, repeating: 0)
            }
        }
        return bytes
    }

    func objects(_ sizes: [Int]) -> [[UInt8]] {
        sizes.enumerated().map { n, size in (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ n) } }
    }

    @Test func objectsComeBackAtAlignedOffsetsInTheOrderAsked() throws {
        for sizes in [[1], [4096], [4097, 1, 700_000], [ChunkObjectHeader.maximumObjectByteCount], Array(repeating: 5000, count: 16)] {
            let objects = self.objects(sizes)
            let body = try self.body(objects)
            let ranges = try body.withUnsafeBytes { try ChunkReadBatch.ranges(in: $0, count: objects.count) }
            #expect(ranges.map(\.count) == sizes)
            for (range, object) in zip(ranges, objects) {
                #expect(range.lowerBound % ChunkReadBatch.alignment == 0)
                #expect(Array(body[range]) == object)
            }
            // Everything outside the objects is the table or zero padding.
            var covered = Set<Int>(0..<(12 + 4 * sizes.count))
            for range in ranges { covered.formUnion(range) }
            #expect(body.indices.filter { !covered.contains($0) }.allSatisfy { body[$0] == 0 })
        }
    }

    @Test func aReaderBufferHoldsTheLargestBatchItAsksFor() throws {
        for chunkSize in [256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20] {
            let count = ChunkReadBatch.entries(chunkSize: chunkSize)
            let largest = ChunkObjectHeader.deltaByteCount + chunkSize + ChunkObjectHeader.tagByteCount
            let layout = try #require(ChunkReadBatch.layout(lengths: Array(repeating: largest, count: count)))
            #expect(layout.total <= ChunkReadBatch.bufferBytes(count: count, chunkSize: chunkSize))
        }
        #expect(ChunkReadBatch.entries(chunkSize: 1 << 20) == 4)
        #expect(ChunkReadBatch.layout(lengths: Array(repeating: ChunkObjectHeader.maximumObjectByteCount, count: 2)) == nil)
    }

    @Test func aBodyThatDoesNotAddUpIsRefusedWhole() throws {
        let body = try self.body(self.objects([5000, 300]))
        func refusal(_ bytes: [UInt8], count: Int = 2) -> TresorError.Code? {
            do {
                _ = try bytes.withUnsafeBytes { try ChunkReadBatch.ranges(in: $0, count: count) }
                return nil
            } catch let error as TresorError {
                return error.code
            } catch {
                return nil
            }
        }
        #expect(refusal(body) == nil)
        #expect(refusal(Array(body.dropLast())) == .corruptObject)
        #expect(refusal(body + [0]) == .corruptObject)
        #expect(refusal(body, count: 3) == .corruptObject)
        #expect(refusal(Array(body.prefix(10))) == .corruptObject)
        var version = body
        version[4] = 2
        #expect(refusal(version) == .unsupportedFormat)
        var magic = body
        magic[0] = UInt8(ascii: "X")
        #expect(refusal(magic) == .corruptObject)
        var zeroLength = body
        zeroLength[16...19] = [0, 0, 0, 0]
        #expect(refusal(zeroLength) == .corruptObject)
    }
}
