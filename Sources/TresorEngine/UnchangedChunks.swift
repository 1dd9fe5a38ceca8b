import TresorCore

/// Byte ranges of each disk that a snapshot provider knows unchanged since a recovery point: change
/// detection from the snapshot tier (docs/snapshots.md, "Change detection").
public struct UnchangedSince: Sendable {
    /// The recovery point the ranges are relative to; they are used only if it is the VM's previous one.
    public var recoveryPointID: String
    /// Per disk, in the request's order: sorted, disjoint byte ranges.
    public var ranges: [[Range<Int64>]]

    public init(recoveryPointID: String, ranges: [[Range<Int64>]]) {
        self.recoveryPointID = recoveryPointID
        self.ranges = ranges
    }
}

/// For each disk, the previous recovery point's ID of every chunk that lies wholly inside an unchanged
/// range: the pass takes that ID without reading the chunk. Only when the previous point is the one the
/// ranges are relative to, was cut at the same chunk size and has the disk at the same size; chunks
/// verify marked bad are read again.
struct UnchangedChunks: Sendable {
    private let known: [[ChunkID?]]
    let count: Int

    init?(_ unchanged: UnchangedSince?, previous: PreviousIndex, session: BackupSession, plan: ChunkPlan) {
        guard let unchanged, unchanged.recoveryPointID == previous.recoveryPointID, previous.chunkSize == plan.chunkSize,
              unchanged.ranges.count == plan.sizes.count else { return nil }
        let chunkSize = Int64(plan.chunkSize)
        var known = [[ChunkID?]]()
        var count = 0
        for (position, size) in plan.sizes.enumerated() {
            var ids = [ChunkID?](repeating: nil, count: plan.chunkCounts[position])
            if let before = previous.idsByDisk[session.disks[position].id], before.size == size {
                var rangeIndex = 0
                let ranges = unchanged.ranges[position]
                for index in ids.indices {
                    let start = Int64(index) * chunkSize
                    let end = min(start + chunkSize, size)
                    while rangeIndex < ranges.count, ranges[rangeIndex].upperBound <= start { rangeIndex += 1 }
                    guard rangeIndex < ranges.count, ranges[rangeIndex].lowerBound <= start, ranges[rangeIndex].upperBound >= end else { continue }
                    let id = before.ids[index]
                    guard !previous.bad.contains(id) else { continue }
                    ids[index] = id
                    count += 1
                }
            }
            known.append(ids)
        }
        self.known = known
        self.count = count
    }

    func id(disk: Int, index: Int) -> ChunkID? { self.known[disk][index] }
}
