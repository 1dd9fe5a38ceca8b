import Foundation
import Testing
import TresorTestSupport

/// `tresor-restore rollback` and `undo`: only differing 4 KiB blocks are written, each saved to the undo
/// record first; a killed rollback is finished or undone exactly; targets in use are refused.
@Suite(.serialized)
struct RollbackTests {
    let env = ["TRESOR_PASSPHRASE": "end-to-end passphrase"]

    /// A vault holding one backup of `source`.
    func backUp(_ source: String, in dir: TemporaryDirectory) throws {
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let backup = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "web", "--disk", source, "--keystore", "keys", "--kek", "main"],
                                      environment: env, directory: dir.path)
        #expect(backup.status == 0, "\(backup.stderr)")
    }

    func rollback(_ target: String, _ extra: [String] = [], in dir: TemporaryDirectory) throws -> Programs.Result {
        try Programs.run("tresor-restore", ["rollback", "--vault", "vault", "--vm", "web", "--disk", "0", "--target", target,
                                            "--keystore", "keys", "--kek", "main"] + extra, environment: env, directory: dir.path)
    }

    /// 4 KiB blocks where two files differ (the last block may be short).
    func differingBlocks(_ a: String, _ b: String) throws -> Int {
        let x = try Data(contentsOf: URL(fileURLWithPath: a))
        let y = try Data(contentsOf: URL(fileURLWithPath: b))
        return stride(from: 0, to: x.count, by: 4096).filter { x[$0..<min($0 + 4096, x.count)] != y[$0..<min($0 + 4096, y.count)] }.count
    }

    @Test func aRollbackWritesOnlyTheDifferingBlocksAndCanBeUndone() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("disk.img"), size: (24 << 20) + 1536, seed: 81)   // a short last block too
        try backUp("disk.img", in: dir)
        try FileManager.default.copyItem(atPath: dir.file("disk.img"), toPath: dir.file("target.img"))
        try TestImages.scribble(dir.file("target.img"), blocks: 40, seed: 82)
        let damaged = try Data(contentsOf: URL(fileURLWithPath: dir.file("target.img")))
        let expectedBlocks = try differingBlocks(dir.file("disk.img"), dir.file("target.img"))
        #expect(expectedBlocks > 30)

        let first = try rollback("target.img", ["--keep-undo", "--json"], in: dir)
        #expect(first.status == 0, "\(first.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as! [String: Any]
        #expect(result["bytesCompared"] as? Int == (24 << 20) + 1536)
        #expect(result["blocksWritten"] as? Int == expectedBlocks, "exactly the damaged blocks: \(first.stdout)")
        #expect(result["bytesWritten"] as? Int == expectedBlocks * 4096)
        #expect(TestImages.equal(dir.file("target.img"), dir.file("disk.img")))
        let undoAttributes = try FileManager.default.attributesOfItem(atPath: dir.file("target.img.tresor-undo"))
        #expect((undoAttributes[.posixPermissions] as? Int) == 0o600)

        let again = try rollback("target.img", ["--json"], in: dir)
        #expect(again.status != 0 && again.stderr.contains("error[restore.undo_pending]"), "the kept record is not overwritten: \(again.stderr)")

        let undo = try Programs.run("tresor-restore", ["undo", "--target", "target.img"], directory: dir.path)
        #expect(undo.status == 0, "\(undo.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("target.img"))) == damaged, "undo puts back every damaged byte")
        #expect(!FileManager.default.fileExists(atPath: dir.file("target.img.tresor-undo")))

        let third = try rollback("target.img", ["--json"], in: dir)
        #expect(third.status == 0, "\(third.stderr)")
        let nothing = try rollback("target.img", ["--json"], in: dir)
        let unchanged = try JSONSerialization.jsonObject(with: Data(nothing.stdout.utf8)) as! [String: Any]
        #expect(unchanged["bytesWritten"] as? Int == 0, "an identical disk gets no write")
        #expect(!FileManager.default.fileExists(atPath: dir.file("target.img.tresor-undo")), "the record goes once the rollback is durable")

        let missing = try rollback("nothing.img", in: dir)
        #expect(missing.status != 0 && missing.stderr.contains("error[restore.target_unwritable]"))
        let device = try rollback("/dev/null-not-here", in: dir)
        #expect(device.status != 0 && device.stderr.contains("--undo-file"))
    }

    @Test func aKilledRollbackIsUndoneExactlyOrFinishedWithResume() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("disk.img"), size: 192 << 20, seed: 83)
        try backUp("disk.img", in: dir)
        // A target that differs nearly everywhere, so the rollback runs long enough to be killed half-way.
        try TestImages.write(dir.file("target.img"), size: 192 << 20, seed: 84)
        try FileManager.default.copyItem(atPath: dir.file("target.img"), toPath: dir.file("before.img"))

        func startAndKill() throws {
            let (process, _, _) = try Programs.start("tresor-restore", ["rollback", "--vault", "vault", "--vm", "web", "--disk", "0",
                                                                        "--target", "target.img", "--keystore", "keys", "--kek", "main",
                                                                        "--workers", "1"], environment: env, directory: dir.path)
            let undo = dir.file("target.img.tresor-undo")
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, process.isRunning {
                let size = (try? FileManager.default.attributesOfItem(atPath: undo)[.size] as? Int) ?? 0
                if size > 24 << 20 { break }
                usleep(2_000)
            }
            #expect(process.isRunning, "the rollback must still be running when it is killed")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        try startAndKill()
        #expect(!TestImages.equal(dir.file("target.img"), dir.file("before.img")), "the killed rollback had changed blocks")
        let plain = try rollback("target.img", in: dir)
        #expect(plain.status != 0 && plain.stderr.contains("error[restore.undo_pending]"), "\(plain.stderr)")
        let undo = try Programs.run("tresor-restore", ["undo", "--target", "target.img", "--json"], directory: dir.path)
        #expect(undo.status == 0, "\(undo.stderr)")
        #expect(TestImages.equal(dir.file("target.img"), dir.file("before.img")), "undo puts the disk back exactly")

        try startAndKill()
        let resumed = try rollback("target.img", ["--resume", "--json"], in: dir)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("\"resumed\" : true"))
        #expect(TestImages.equal(dir.file("target.img"), dir.file("disk.img")), "the resumed rollback finishes the disk")
    }

    @Test func aTargetInUseIsRefused() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("disk.img"), size: 8 << 20, seed: 85)
        try backUp("disk.img", in: dir)
        try FileManager.default.copyItem(atPath: dir.file("disk.img"), toPath: dir.file("target.img"))

        // qemu-nbd serves the image as a running VM would use it, holding QEMU's image locks.
        if FileManager.default.fileExists(atPath: "/usr/bin/qemu-nbd") {
            let socket = dir.file("nbd.sock")
            let (server, _, _) = try Programs.startSystem("/usr/bin/qemu-nbd", ["--socket", socket, "--format", "raw", dir.file("target.img")])
            // SIGKILL: the test runner's children inherit a blocked SIGTERM.
            defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
            let locked = try rollback("target.img", in: dir)
            #expect(locked.status != 0 && locked.stderr.contains("error[restore.target_in_use]"), "\(locked.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.file("target.img.tresor-undo")), "nothing was started")
        }

        guard getuid() == 0, FileManager.default.fileExists(atPath: "/usr/sbin/mkfs.ext4") else { return }
        let mount = try LoopMount(.ext4, sizeMiB: 16)
        let attached = try rollback(mount.image, ["--undo-file", dir.file("u1")], in: dir)
        #expect(attached.status != 0 && attached.stderr.contains("error[restore.target_in_use]") && attached.stderr.contains("/dev/loop"),
                "\(attached.stderr)")
        let (losetup, out, _) = try Programs.startSystem("/sbin/losetup", ["-j", mount.image])
        losetup.waitUntilExit()
        let device = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: ":").first.map(String.init) ?? ""
        #expect(device.hasPrefix("/dev/loop"))
        let mounted = try rollback(device, ["--undo-file", dir.file("u2")], in: dir)
        #expect(mounted.status != 0 && mounted.stderr.contains("error[restore.target_in_use]"), "a mounted device: \(mounted.stderr)")
    }
}
