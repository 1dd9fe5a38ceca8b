/// The order in which a backup or restore visits chunks: disks interleaved in runs of 16 chunks, so all
/// disks make progress at once and each worker still reads mostly sequentially.
struct ChunkPlan: Sendable {
    struct Item: Sendable {
        let disk: Int
        let index: Int
    }

    let items: [Item]
    let chunkCounts: [Int]
    let sizes: [Int64]
    let chunkSize: Int

    init(sizes: [Int64], chunkSize: Int) {
        self.sizes = sizes
        self.chunkSize = chunkSize
        self.chunkCounts = sizes.map { Int(($0 + Int64(chunkSize) - 1) / Int64(chunkSize)) }
        let total = self.chunkCounts.reduce(0, +)
        var items: [Item] = []
        items.reserveCapacity(total)
        let run = 16
        var start = 0
        while items.count < total {
            for (disk, count) in self.chunkCounts.enumerated() where start < count {
                for index in start..<min(start + run, count) { items.append(Item(disk: disk, index: index)) }
            }
            start += run
        }
        self.items = items
    }

    init(sources: [DiskSource], chunkSize: Int) {
        self.init(sizes: sources.map(\.size), chunkSize: chunkSize)
    }

    func offset(_ item: Item) -> Int64 { Int64(item.index) * Int64(self.chunkSize) }

    func length(_ item: Item) -> Int {
        Int(min(Int64(self.chunkSize), self.sizes[item.disk] - self.offset(item)))
    }
}
