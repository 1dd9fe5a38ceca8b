import Foundation
import Testing
import TresorCore
import TresorEngine
import TresorSnapshot
import TresorTestSupport

/// Change detection from the snapshot tier: two reflink snapshots of a disk on XFS share every block that
/// was not written in between, and a backup takes those chunks' IDs from the previous recovery point
/// without reading them; the restore is still exact.
@Suite(.serialized)
struct ChangeDetectionTests {
    @Test func theExtentMapsOfTwoSnapshotsShowExactlyWhatWasWritten() throws {
        let xfs = try LoopMount(.xfs)
        let disk = xfs.file("disk.raw")
        try TestImages.write(disk, size: 8 << 20, seed: 21)
        try Reflink.clone(disk, to: xfs.file("a.raw"))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: disk))
        try handle.seek(toOffset: (3 << 20) + 100)
        try handle.write(contentsOf: Data("written between the snapshots".utf8))
        try handle.close()
        try Reflink.clone(disk, to: xfs.file("b.raw"))
        let ranges = try ChangedBlocks.unchangedRanges(older: xfs.file("a.raw"), newer: xfs.file("b.raw"))
        let covered = ranges.reduce(Int64(0)) { $0 + $1.upperBound - $1.lowerBound }
        #expect(!ranges.contains { $0.contains((3 << 20) + 100) }, "\(ranges)")
        #expect(covered >= (8 << 20) - (64 << 10) && covered < 8 << 20, "all but the written block are shared: \(covered)")
        // Copies that share nothing (plain copies, or ext4) give no ranges: everything is read.
        try FileManager.default.copyItem(atPath: disk, toPath: xfs.file("plain.raw"))
        #expect(try ChangedBlocks.unchangedRanges(older: xfs.file("a.raw"), newer: xfs.file("plain.raw")).isEmpty)
    }

    @Test func aBackupFromASnapshotReadsOnlyWhatChangedSinceTheKeptOne() throws {
        let xfs = try LoopMount(.xfs)
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = xfs.file("disk.raw")
        try TestImages.write(disk, size: 32 << 20, seed: 22)
        let tier = SnapshotTier(root: xfs.file("tier"))
        func backup(tag: String, now: Int64, unchanged: (HeldSnapshot) -> UnchangedSince?) throws -> (BackupResult, HeldSnapshot) {
            let held = try VMSnapshotter.take(VMSnapshotter.Request(vmName: "vm1", host: "host1", diskPaths: [disk],
                                                                    settings: SnapshotSettings(method: .reflink), tier: tier,
                                                                    configuredPower: .running, tag: tag, now: now))
            var request = BackupRequest(vmName: "vm1", host: "host1", diskPaths: [disk], workers: 2)
            request.readPaths = held.readPaths
            request.consistency = held.consistency
            request.unchanged = unchanged(held)
            let result = try BackupEngine.run(request, vault: t.vault, keys: keys, now: 1_700_000_000_000 + now)
            held.release(recoveryPoint: result.recoveryPoint, keepUntilMillis: 1_700_000_000_000 + 86_400_000)
            return (result, held)
        }
        func sinceKept(_ held: HeldSnapshot) -> UnchangedSince? {
            held.unchangedSinceKeptSnapshot().map { UnchangedSince(recoveryPointID: $0.recoveryPoint, ranges: $0.ranges) }
        }

        let (first, firstHeld) = try backup(tag: "1", now: 1, unchanged: sinceKept)
        #expect(first.bytesUnchanged == 0 && first.bytesRead == 32 << 20, "nothing kept yet: all is read")
        #expect(first.consistency == "crash-consistent" && !firstHeld.readPaths.contains(disk))

        try TestImages.scribble(disk, blocks: 3, seed: 23)
        let (second, _) = try backup(tag: "2", now: 2, unchanged: sinceKept)
        #expect(second.bytesRead <= 3 << 20, "at most the three chunks written are read: \(second.bytesRead)")
        #expect(second.bytesUnchanged + second.bytesRead == 32 << 20)
        #expect(second.chunksNew >= 1 && second.chunksNew <= 3)
        let restored = try t.restore(second.recoveryPoint, keys: keys)
        #expect(TestImages.equal(restored, disk))

        // Ranges relative to a point that is not the VM's previous one are ignored: everything is read.
        try TestImages.scribble(disk, blocks: 1, seed: 24)
        let (third, _) = try backup(tag: "3", now: 3) { _ in UnchangedSince(recoveryPointID: first.recoveryPoint, ranges: [[0..<(32 << 20)]]) }
        #expect(third.bytesUnchanged == 0 && third.bytesRead == 32 << 20)
        #expect(TestImages.equal(try t.restore(third.recoveryPoint, keys: keys), disk))
    }
}
