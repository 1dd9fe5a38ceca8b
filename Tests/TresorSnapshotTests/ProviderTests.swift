import Foundation
import Testing
import TresorCore
import TresorSnapshot
import TresorTestSupport

/// The snapshot providers against the real things: reflink copies on a loop-mounted XFS (refused on
/// ext4), FIFREEZE on a loop-mounted ext4 with its watchdog, and QMP snapshots of a QEMU VM under KVM
/// whose disk is written while the snapshot is held.
@Suite(.serialized)
struct ProviderTests {
    static func bytes(_ path: String, count: Int = 8, at offset: UInt64 = 0) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        return Array(try handle.read(upToCount: count) ?? Data())
    }

    static func write(_ text: String, to path: String, at offset: UInt64 = 0) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: Data(text.utf8))
        try handle.synchronize()
    }

    @Test func reflinkCopiesStayAsTheyWereAndExt4IsRefusedClearly() throws {
        let xfs = try LoopMount(.xfs)
        try TestImages.write(xfs.file("disk.raw"), size: 8 << 20, seed: 5)
        let before = try Data(contentsOf: URL(fileURLWithPath: xfs.file("disk.raw")))
        try Reflink.clone(xfs.file("disk.raw"), to: xfs.file("copy.raw"))
        try Self.write("CHANGED!", to: xfs.file("disk.raw"), at: 4096)
        #expect(try Data(contentsOf: URL(fileURLWithPath: xfs.file("copy.raw"))) == before)
        var info = stat()
        #expect(stat(xfs.file("copy.raw"), &info) == 0 && info.st_mode & 0o777 == 0o600)
        // An existing copy is never overwritten.
        #expect(throws: TresorError.self) { try Reflink.clone(xfs.file("disk.raw"), to: xfs.file("copy.raw")) }

        let ext4 = try LoopMount(.ext4, sizeMiB: 64)
        try TestImages.write(ext4.file("disk.raw"), size: 1 << 20, seed: 6)
        do {
            try Reflink.clone(ext4.file("disk.raw"), to: ext4.file("copy.raw"))
            Issue.record("ext4 made a reflink copy")
        } catch let error as TresorError {
            #expect(error.code == .snapshotFailed && error.message.contains("cannot make reflink copies"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: ext4.file("copy.raw")), "a failed clone leaves no file")
        // Across file systems: a clear EXDEV message.
        do {
            try Reflink.clone(xfs.file("disk.raw"), to: ext4.file("other.raw"))
            Issue.record("a reflink across file systems succeeded")
        } catch let error as TresorError {
            #expect(error.code == .snapshotFailed && error.message.contains("different file systems"), "\(error)")
        }
    }

    @Test func aFrozenFileSystemHoldsWritersUntilThawedAndTheWatchdogAlwaysThaws() throws {
        let ext4 = try LoopMount(.ext4, sizeMiB: 64)
        let freeze = FileSystemFreeze(mounts: [ext4.mountPoint], timeoutSeconds: 30)
        try freeze.freeze()
        // A writer started while frozen finishes only after the thaw.
        let wrote = DispatchSemaphore(value: 0)
        let target = ext4.file("during-freeze")
        Thread.detachNewThread {
            _ = FileManager.default.createFile(atPath: target, contents: Data("x".utf8))
            wrote.signal()
        }
        #expect(wrote.wait(timeout: .now() + 1) == .timedOut, "a write went through a frozen file system")
        try freeze.thaw()
        #expect(wrote.wait(timeout: .now() + 10) == .success)
        #expect(FileManager.default.fileExists(atPath: target))

        // Freezing twice is refused with the mount named, and nothing stays frozen.
        let first = FileSystemFreeze(mounts: [ext4.mountPoint], timeoutSeconds: 30)
        try first.freeze()
        do {
            try FileSystemFreeze(mounts: [ext4.mountPoint], timeoutSeconds: 30).freeze()
            Issue.record("a frozen file system was frozen again")
        } catch let error as TresorError {
            #expect(error.code == .freezeFailed && error.message.contains(ext4.mountPoint), "\(error)")
        }
        try first.thaw()

        // The watchdog thaws at its deadline; the late thaw says the freeze did not hold.
        let short = FileSystemFreeze(mounts: [ext4.mountPoint], timeoutSeconds: 1)
        try short.freeze()
        Thread.sleep(forTimeInterval: 2)
        #expect(FileManager.default.createFile(atPath: ext4.file("after-watchdog"), contents: Data("y".utf8)))
        do {
            try short.thaw()
            Issue.record("a freeze the watchdog ended was reported as held")
        } catch let error as TresorError {
            #expect(error.code == .freezeTimeout, "\(error)")
        }
    }

    @Test func qemuSnapshotsHoldThePointInTimeWhileTheGuestWritesAndCommitBack() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("os.raw"), size: 16 << 20, seed: 7)
        try TestImages.write(dir.file("data.raw"), size: 8 << 20, seed: 8)
        let original = try Data(contentsOf: URL(fileURLWithPath: dir.file("os.raw")))
        let vm = try QEMUMachine(disks: [dir.file("os.raw"), dir.file("data.raw")], in: dir)
        // QEMU serves one QMP client at a time: each step below holds its own connection.
        do {
            let qmp = try #require(try QMPConnection.connectIfListening(vm.qmpSocket))
            #expect(try QEMUSnapshot.runState(qmp) == "running")
            let overlays = try QEMUSnapshot(qmp: qmp, overlayDirectory: dir.file("overlays"))
                .take(diskPaths: [dir.file("os.raw"), dir.file("data.raw")], tag: "t1")
            #expect(overlays.count == 2)
            // The guest writes through its virtio disk: the write lands in the overlay, the disk file stands still.
            try qmp.execute("human-monitor-command", ["command-line": #"qemu-io drive0 "write -P 0x41 4096 8""#])
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("os.raw"))) == original)
        }
        // The agent died holding the snapshot: the next one commits the leftovers first.
        do {
            let qmp = try #require(try QMPConnection.connectIfListening(vm.qmpSocket))
            let snapshot = QEMUSnapshot(qmp: qmp, overlayDirectory: dir.file("overlays"))
            try snapshot.commitLeftovers()
            #expect(try Self.bytes(dir.file("os.raw"), at: 4096) == Array(repeating: 0x41, count: 8), "the guest's write reached the disk")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("overlays")).isEmpty, "committed overlays are removed")
            // A disk QEMU does not have is named in the error.
            do {
                _ = try snapshot.take(diskPaths: [dir.file("missing.raw")], tag: "t2")
                Issue.record("a snapshot of a disk the VM lacks succeeded")
            } catch let error as TresorError {
                #expect(error.code == .snapshotFailed && error.message.contains("missing.raw"), "\(error)")
            }
        }
        // A stopped VM: nobody listens on its socket.
        vm.kill()
        #expect(try QMPConnection.connectIfListening(vm.qmpSocket) == nil)
    }
}
