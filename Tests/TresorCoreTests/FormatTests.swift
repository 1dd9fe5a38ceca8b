import Testing
import TresorCompression
import TresorCore
import TresorTestSupport

struct FormatTests {
    let id = ChunkID(bytes: (0..<32).map { UInt8($0) })
    let keyID = KeyID(bytes: (0..<16).map { UInt8(200 + $0) })

    @Test func chunkHeaderRoundTrips() throws {
        let header = ChunkObjectHeader(compressed: true, chunkID: self.id, dataKeyID: self.keyID, plaintextLength: 1 << 20, sealedLength: 1000)
        var bytes = [UInt8](repeating: 0, count: ChunkObjectHeader.byteCount)
        bytes.withUnsafeMutableBytes { header.encode(into: $0) }
        #expect(Array(bytes[0..<4]) == Array("TRCK".utf8))
        let decoded = try bytes.withUnsafeBytes { try ChunkObjectHeader.decode($0, objectLength: header.objectLength, name: "x") }
        #expect(decoded == header)
    }

    @Test func unknownChunkVersionIsRefusedClearly() throws {
        let header = ChunkObjectHeader(compressed: false, chunkID: self.id, dataKeyID: self.keyID, plaintextLength: 10, sealedLength: 10)
        var bytes = [UInt8](repeating: 0, count: ChunkObjectHeader.byteCount)
        bytes.withUnsafeMutableBytes { header.encode(into: $0) }
        bytes[4] = 3
        #expect {
            try bytes.withUnsafeBytes { try ChunkObjectHeader.decode($0, objectLength: nil, name: "c1") }
        } throws: { ($0 as? TresorError)?.code == .unsupportedFormat && "\($0)".contains("version 3") }
    }

    @Test func aDeltaHeaderCarriesItsBaseAndRefusesItselfAsBase() throws {
        let base = ChunkID(bytes: [UInt8](repeating: 0x5a, count: 32))
        let header = ChunkObjectHeader(compressed: true, chunkID: self.id, dataKeyID: self.keyID, plaintextLength: 4096, sealedLength: 100,
                                       base: base)
        #expect(header.headerLength == ChunkObjectHeader.deltaByteCount && header.nonceRange == 96..<108)
        var bytes = [UInt8](repeating: 0, count: ChunkObjectHeader.deltaByteCount)
        bytes.withUnsafeMutableBytes { header.encode(into: $0) }
        #expect(bytes[4] == 2 && Array(bytes[64..<96]) == [UInt8](repeating: 0x5a, count: 32))
        let decoded = try bytes.withUnsafeBytes { try ChunkObjectHeader.decode($0, objectLength: header.objectLength, name: "d") }
        #expect(decoded == header)
        #expect {
            try bytes.withUnsafeBytes { try ChunkObjectHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<ChunkObjectHeader.byteCount]),
                                                                      objectLength: nil, name: "d") }
        } throws: { ($0 as? TresorError)?.code == .corruptObject }
        bytes.withUnsafeMutableBytes { self.id.write(to: UnsafeMutableRawBufferPointer(rebasing: $0[64..<96])) }
        #expect {
            try bytes.withUnsafeBytes { try ChunkObjectHeader.decode($0, objectLength: nil, name: "d") }
        } throws: { ($0 as? TresorError)?.code == .corruptObject }
    }

    @Test func chunkHeaderRejectsImpossibleLengths() throws {
        let header = ChunkObjectHeader(compressed: false, chunkID: self.id, dataKeyID: self.keyID, plaintextLength: 10, sealedLength: 10)
        var bytes = [UInt8](repeating: 0, count: ChunkObjectHeader.byteCount)
        bytes.withUnsafeMutableBytes { header.encode(into: $0) }
        #expect(throws: TresorError.self) { try bytes.withUnsafeBytes { try ChunkObjectHeader.decode($0, objectLength: 99, name: "c") } }
        bytes[5] = 4
        #expect(throws: TresorError.self) { try bytes.withUnsafeBytes { try ChunkObjectHeader.decode($0, objectLength: nil, name: "c") } }
    }

    @Test func indexPageRoundTripsAndRejectsDamage() throws {
        let ids = [self.id, .zero, self.id]
        var page = IndexPage.encode(ids[...])
        #expect(try IndexPage.decode(page, name: "p") == ids)
        page[8] = 9
        #expect(throws: TresorError.self) { try IndexPage.decode(page, name: "p") }
        page[8] = 3
        page[4] = 7
        #expect { try IndexPage.decode(page, name: "p") } throws: { ($0 as? TresorError)?.code == .unsupportedFormat }
    }

    @Test func chunkIDHexRoundTrips() {
        #expect(ChunkID(hex: self.id.hex) == self.id)
        #expect(ChunkID(hex: "zz") == nil)
        #expect(ChunkID.zero.isZero)
    }

    @Test func objectKeysStayInsideTheLayout() throws {
        #expect(ObjectKey(listedPath: "domains/../etc") == nil)
        #expect(throws: TresorError.self) { try DomainID("../x") }
        #expect(throws: TresorError.self) { try DomainID("UPPER") }
        let domain = try DomainID("vm-1")
        #expect(ObjectKey.chunk(domain: domain, id: self.id).path == "domains/vm-1/chunks/00/\(self.id.hex)")
    }

    @Test func zstdStoresRawWhenDataDoesNotShrink() throws {
        let compressor = ZstdCompressor(level: 3)
        var random = SyntheticDataBytes.random(65536)
        var out = [UInt8](repeating: 0, count: ZstdCompressor.bound(65536))
        let n = random.withUnsafeBytes { r in out.withUnsafeMutableBytes { compressor.compress(r, into: $0, maximumOutput: 65536 - 1024) } }
        #expect(n == nil)
        random = [UInt8](repeating: 7, count: 65536)
        let m = random.withUnsafeBytes { r in out.withUnsafeMutableBytes { compressor.compress(r, into: $0, maximumOutput: 65536) } }
        #expect(m != nil && m! < 1000)
        var back = [UInt8](repeating: 0, count: 65536)
        try out.withUnsafeBytes { o in try back.withUnsafeMutableBytes { try ZstdDecompressor().decompress(UnsafeRawBufferPointer(rebasing: o[0..<m!]), into: $0) } }
        #expect(back == random)
    }

    @Test func aChunkBatchRoundTripsAndLimitsItsEntries() throws {
        var batch = ChunkBatchWriter(body: [UInt8]())
        let objects: [[UInt8]] = [[1, 2, 3], [UInt8](repeating: 9, count: 5000)]
        let ids = [ChunkID(bytes: [UInt8](repeating: 1, count: 32)), ChunkID(bytes: [UInt8](repeating: 2, count: 32))]
        for (id, object) in zip(ids, objects) { object.withUnsafeBytes { batch.append(id: id, object: $0) } }
        // The format, byte by byte: header with the entry count, then ID, little-endian length, object.
        #expect(Array(batch.body[0..<12]) == Array("TRCB".utf8) + [1, 0, 0, 0, 2, 0, 0, 0])
        #expect(Array(batch.body[12..<51]) == [UInt8](repeating: 1, count: 32) + [3, 0, 0, 0] + [1, 2, 3])
        #expect(Array(batch.body[83..<87]) == [0x88, 0x13, 0, 0])
        let entries = try batch.body.withUnsafeBytes { try ChunkBatch.entries(in: $0) }
        #expect(entries.map(\.id) == ids)
        #expect(entries.map { Array(batch.body[$0.range]) } == objects)
        #expect(batch.fits(100, limit: batch.body.count + ChunkBatch.entryHeaderByteCount + 100))
        #expect(!batch.fits(101, limit: batch.body.count + ChunkBatch.entryHeaderByteCount + 100))
        batch.removeAll()
        #expect(batch.isEmpty && batch.body == Array("TRCB".utf8) + [1, 0, 0, 0, 0, 0, 0, 0])
        // An empty batch is not a valid body.
        #expect(throws: TresorError.self) { try batch.body.withUnsafeBytes { try ChunkBatch.entries(in: $0) } }
        // A writer starts over whatever its body held.
        #expect(ChunkBatchWriter(body: [UInt8](repeating: 7, count: 100)).body.count == ChunkBatch.headerByteCount)
        // The largest object always fits a batch of its own, and a full batch fits what the vault takes.
        #expect(ChunkBatchWriter(body: [UInt8]()).fits(ChunkBatch.maximumObject, limit: ChunkBatch.objectBytesPerBatch))
        #expect(ChunkBatch.objectBytesPerBatch <= ChunkBatch.maximumBytes)
    }
}

enum SyntheticDataBytes {
    static func random(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
