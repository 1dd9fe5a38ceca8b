import TresorCrypto

/// Where each field of a record sits, for one chunk size: nonce (16) ‖ chunk ID (32) ‖ base ID (32) ‖
/// bitmap (⌈blocks/8⌉ rounded up to 8) ‖ block tags (8 × blocks) ‖ MAC (16).
struct ChangeRecordLayout: Sendable, Equatable {
    static let nonceByteCount = 16
    static let macByteCount = 16
    let blocks: Int
    let bitmapByteCount: Int

    init(chunkSize: Int) {
        self.blocks = (chunkSize + ChangeCache.blockSize - 1) / ChangeCache.blockSize
        self.bitmapByteCount = ((self.blocks + 7) / 8 + 7) / 8 * 8
    }

    var nonce: Range<Int> { 0..<16 }
    var chunkID: Range<Int> { 16..<48 }
    var base: Range<Int> { 48..<80 }
    var bitmap: Range<Int> { 80..<80 + self.bitmapByteCount }
    var tags: Range<Int> { self.bitmap.upperBound..<self.bitmap.upperBound + BlockTagger.tagByteCount * self.blocks }
    var mac: Range<Int> { self.tags.upperBound..<self.tags.upperBound + Self.macByteCount }
    var byteCount: Int { self.mac.upperBound }
}
