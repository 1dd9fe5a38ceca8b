import Foundation
import Testing
import TresorCore
import TresorEngine
import TresorKeys
import TresorTestSupport

struct BackupRestoreTests {
    @Test(arguments: [256 << 10, 1 << 20, 4 << 20])
    func roundTripsAtEachChunkSize(chunkSize: Int) throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        // Sizes that are not multiples of the chunk size, and two disks backed up together.
        let disk0 = try t.image("d0.img", size: 9 << 20 + 12345, seed: 1)
        let disk1 = try t.image("d1.img", size: 3 << 20 + 4096, seed: 2)
        let result = try t.backup([disk0, disk1], keys: keys, chunkSize: chunkSize)
        #expect(result.bytesRead == Int64(9 << 20 + 12345 + 3 << 20 + 4096))
        #expect(result.chunksNew > 0 && result.chunksZero > 0)
        #expect(TestImages.equal(try t.restore(result.recoveryPoint, disk: 0, keys: keys), disk0))
        #expect(TestImages.equal(try t.restore(result.recoveryPoint, disk: 1, keys: keys), disk1))
        // The same restore ending with fdatasync.
        #expect(TestImages.equal(try t.restore(result.recoveryPoint, disk: 0, keys: keys, sync: true), disk0))
        #expect(TestImages.equal(try t.restore(result.recoveryPoint, disk: 1, keys: keys, sync: true), disk1))
    }

    @Test func incrementalStoresOnlyChangedChunksAndBothPointsRestore() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 16 << 20, seed: 3)
        let first = try t.backup([disk], keys: keys)
        let original = t.directory.file("original.img")
        try FileManager.default.copyItem(atPath: disk, toPath: original)
        try TestImages.scribble(disk, blocks: 3, seed: 9)
        let second = try t.backup([disk], keys: keys)
        #expect(second.chunksNew <= 3 && second.chunksNew >= 1)
        #expect(second.chunksReused + second.chunksNew + second.chunksZero == 16)
        #expect(second.bytesStored <= Int64(second.chunksNew) * (1 << 20 + 128), "only the changed chunks are stored")
        #expect(second.bytesStored < first.bytesStored)
        #expect(TestImages.equal(try t.restore(first.recoveryPoint, keys: keys), original))
        #expect(TestImages.equal(try t.restore(second.recoveryPoint, keys: keys), disk))
        let points = try t.vault.catalog.recoveryPoints(vmID: nil)
        #expect(points.map(\.sequence) == [1, 2])
    }

    /// A restore reports the CPU its workers spent in each stage, deltas included; together the stages
    /// cannot have cost more than the whole process did meanwhile.
    @Test func aRestoreReportsTheCPUOfEachStage() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 16 << 20, seed: 3)
        try t.backup([disk], keys: keys)
        try TestImages.scribble(disk, blocks: 3, seed: 9)
        let second = try t.backup([disk], keys: keys)
        #expect(second.chunksDelta > 0)
        let point = try OpenedRecoveryPoint(vault: t.vault, keys: keys, recoveryPointID: second.recoveryPoint)
        let output = t.directory.file("restored.img")
        let before = Self.processCPUSeconds()
        let result = try RestoreEngine.restoreDisk(point, position: 0, output: output, force: false, sync: false, workers: 3)
        let spent = Self.processCPUSeconds() - before
        #expect(TestImages.equal(output, disk))
        let stages = result.stageCPUSeconds
        for (stage, seconds) in [("fetch", stages.fetch), ("decrypt", stages.decrypt), ("decompress", stages.decompress),
                                 ("delta", stages.delta), ("chunkID", stages.chunkID), ("write", stages.write)] {
            #expect(seconds > 0, "\(stage) took no CPU")
        }
        let total = stages.fetch + stages.decrypt + stages.decompress + stages.delta + stages.chunkID + stages.write
        #expect(total <= spent, "the stages add up to \(total) s, the process spent \(spent) s")
    }

    private static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// A recovery point is named by its whole ID, 8 or more leading characters of it, or `latest`; fewer
    /// characters are refused as too short rather than taken as "no such point".
    @Test func aRecoveryPointIsNamedByEightOrMoreLeadingCharacters() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 2 << 20, seed: 41)
        let first = try t.backup([disk], keys: keys)
        try TestImages.scribble(disk, blocks: 1, seed: 42)
        let second = try t.backup([disk], keys: keys)
        let vm = try t.vault.findVM(name: "vm1", host: nil)
        for point in [first, second] {
            #expect(try t.vault.resolveRecoveryPoint(vm: vm, reference: String(point.recoveryPoint.prefix(8))).id == point.recoveryPoint)
            #expect(try t.vault.resolveRecoveryPoint(vm: vm, reference: point.recoveryPoint).id == point.recoveryPoint)
        }
        #expect(try t.vault.resolveRecoveryPoint(vm: vm, reference: "latest").id == second.recoveryPoint)
        #expect { try t.vault.resolveRecoveryPoint(vm: vm, reference: String(first.recoveryPoint.prefix(3))) } throws: {
            ($0 as? TresorError)?.code == .invalidArgument && ($0 as? TresorError)?.message.contains("too short") == true
        }
        #expect { try t.vault.resolveRecoveryPoint(vm: vm, reference: "zzzzzzzz") } throws: { ($0 as? TresorError)?.code == .notFound }
    }

    @Test func aDiskThatGrewGetsAFullNewIndex() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 4 << 20, seed: 4)
        _ = try t.backup([disk], keys: keys)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: disk))
        try handle.truncate(atOffset: 6 << 20 + 777)
        try handle.close()
        let grown = try t.backup([disk], keys: keys)
        #expect(grown.bytesRead == Int64(6 << 20 + 777))
        #expect(TestImages.equal(try t.restore(grown.recoveryPoint, keys: keys), disk))
    }

    @Test func identicalChunksAcrossDisksAreStoredOnce() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let a = try t.image("a.img", size: 4 << 20, seed: 5)
        let b = t.directory.file("b.img")
        try FileManager.default.copyItem(atPath: a, toPath: b)
        let result = try t.backup([a, b], keys: keys)
        let nonZero = 4 - result.chunksZero / 2
        #expect(result.chunksNew == nonZero)
        #expect(result.chunksReused == nonZero)
    }

    /// With and without the final fdatasync.
    @Test(arguments: [false, true])
    func restoreRefusesAnExistingTargetUnlessForcedAndLeavesNoStaleBytes(sync: Bool) throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = t.directory.file("d.img")
        // A disk with a zero tail, restored over a larger file full of 0xff.
        var bytes = [UInt8](repeating: 0, count: 3 << 20)
        for i in 0..<(1 << 20) { bytes[i] = UInt8(truncatingIfNeeded: i * 7 + 1) }
        try Data(bytes).write(to: URL(fileURLWithPath: disk))
        let result = try t.backup([disk], keys: keys)
        let target = t.directory.file("target.img")
        try Data([UInt8](repeating: 0xff, count: 5 << 20)).write(to: URL(fileURLWithPath: target))
        #expect { try t.restore(result.recoveryPoint, keys: keys, to: "target.img") } throws: {
            ($0 as? TresorError)?.code == .targetExists
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)).count == 5 << 20)
        _ = try t.restore(result.recoveryPoint, keys: keys, to: "target.img", force: true, sync: sync)
        #expect(TestImages.equal(target, disk))
    }

    /// A restore skips the all-zero 4 KiB blocks inside data chunks; over a forced target full of 0xff,
    /// they must still read back as zeros (first, inner and last blocks of a chunk, and a short tail).
    @Test func zeroBlocksInsideDataChunksReadBackAsZerosOverAForcedTarget() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = t.directory.file("d.img")
        var bytes = [UInt8](repeating: 0, count: 2 << 20 + 5000)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i % 251 + 1) }
        let block = 4096
        for zeroBlock in [0, 7, 8, 255, 256 + 100] { bytes.replaceSubrange(zeroBlock * block..<(zeroBlock + 1) * block, with: repeatElement(0, count: block)) }
        bytes.replaceSubrange((2 << 20)..<(2 << 20 + 4096), with: repeatElement(0, count: 4096))
        try Data(bytes).write(to: URL(fileURLWithPath: disk))
        let result = try t.backup([disk], keys: keys)
        #expect(result.chunksZero == 0)
        let target = t.directory.file("target.img")
        try Data([UInt8](repeating: 0xff, count: 4 << 20)).write(to: URL(fileURLWithPath: target))
        _ = try t.restore(result.recoveryPoint, keys: keys, to: "target.img", force: true)
        #expect(TestImages.equal(target, disk))
    }

    @Test func restoredZeroChunksAreHoles() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = t.directory.file("sparse.img")
        var bytes = [UInt8](repeating: 0, count: 64 << 20)
        bytes[5] = 1
        try Data(bytes).write(to: URL(fileURLWithPath: disk))
        let result = try t.backup([disk], keys: keys)
        #expect(result.chunksZero == 63 && result.chunksNew == 1)
        let restored = try t.restore(result.recoveryPoint, keys: keys)
        var st = stat()
        stat(restored, &st)
        #expect(st.st_size == 64 << 20)
        #expect(Int(st.st_blocks) * 512 < 4 << 20, "zero chunks must stay holes")
        #expect(TestImages.equal(restored, disk))
    }

    @Test func holesOfASparseImageAreZeroChunksWithoutBeingRead() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = t.directory.file("sparse.img")
        _ = FileManager.default.createFile(atPath: disk, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: disk))
        try handle.seek(toOffset: 5 << 20)
        try handle.write(contentsOf: [UInt8](repeating: 9, count: 4096))
        try handle.truncate(atOffset: 1 << 30)
        try handle.close()
        let result = try t.backup([disk], keys: keys)
        #expect(result.chunksZero == 1023 && result.chunksNew == 1)
        #expect(result.bytesRead == 1 << 30)
        #expect(TestImages.equal(try t.restore(result.recoveryPoint, keys: keys), disk))
    }

    @Test func aMissingDiskIsAClearError() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        #expect { try t.backup([t.directory.file("nope.img")], keys: keys) } throws: {
            ($0 as? TresorError)?.code == .diskUnreadable && "\($0)".contains("nope.img")
        }
        #expect(try t.vault.catalog.recoveryPoints(vmID: nil).isEmpty)
    }

    @Test func vmsOfOneNameOnTwoHostsStayApart() throws {
        let t = try TestVault()
        let keys = try t.makeKEK("main")
        let disk = try t.image("d.img", size: 2 << 20, seed: 6)
        let a = try BackupEngine.run(BackupRequest(vmName: "web", host: "h1", diskPaths: [disk]), vault: t.vault, keys: keys, now: 1)
        let b = try BackupEngine.run(BackupRequest(vmName: "web", host: "h2", diskPaths: [disk]), vault: t.vault, keys: keys, now: 2)
        #expect(a.vmID != b.vmID)
        #expect(throws: TresorError.self) { try t.vault.findVM(name: "web", host: nil) }
        #expect(try t.vault.findVM(name: "web", host: "h2").id == b.vmID)
        // Each VM is its own key domain: nothing is shared, so the second stored its chunks again.
        #expect(b.chunksNew == a.chunksNew)
    }
}
