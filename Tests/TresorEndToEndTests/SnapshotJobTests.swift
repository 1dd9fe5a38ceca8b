import Foundation
import Testing
import TresorCore
import TresorSnapshot
import TresorTestSupport

extension JobTests {
    /// A real agent backs up a running QEMU VM (KVM) whose disks are on XFS: pre/post scripts run, the
    /// snapshot is taken through QMP, copied into the snapshot tier, and the recovery point says
    /// application-consistent; with QEMU gone, the next backup is crash-consistent.
    @Test func anAgentSnapshotsARunningQEMUVMWithScriptsAndKeepsTheSnapshotInTheTier() throws {
        let setup = try Setup()
        let xfs = try LoopMount(.xfs)
        for disk in ["os.img", "data.img"] {
            try FileManager.default.copyItem(atPath: setup.dir.file(disk), toPath: xfs.file(disk))
        }
        let vm = try QEMUMachine(disks: [xfs.file("os.img"), xfs.file("data.img")], in: setup.dir)
        let marker = setup.dir.file("scripts.log")
        for (name, line) in [("pre.sh", "pre"), ("post.sh", "post")] {
            try "#!/bin/sh\necho \(line) >> \"$1\"\n".write(toFile: setup.dir.file(name), atomically: true, encoding: .utf8)
            chmod(setup.dir.file(name), 0o700)
        }
        let scripts = setup.dir.file("VMSnapshotScriptPluginConfig.json")
        try """
            {"pluginName": "ScriptRunner", "preScriptLocation": "\(setup.dir.file("pre.sh"))", "postScriptLocation": "\(setup.dir.file("post.sh"))",
             "preScriptParams": ["\(marker)"], "postScriptParams": ["\(marker)"], "timeoutInSeconds": 30,
             "continueBackupOnFailure": false, "fsFreezeEnabled": true}
            """.write(toFile: scripts, atomically: true, encoding: .utf8)
        chmod(scripts, 0o600)
        try """
            {"host": "hv1", "region": "test", "keystore": "\(setup.dir.file("agent-keys"))", "kek": "main",
             "snapshotDirectory": "\(xfs.file("tier"))",
             "vms": [{"name": "web", "disks": [
                {"path": "\(xfs.file("os.img"))", "role": "os"}, {"path": "\(xfs.file("data.img"))", "role": "data"},
                {"path": "\(setup.dir.file("temp.img"))", "role": "temporary"}],
              "snapshot": {"method": "qmp", "qmpSocket": "\(vm.qmpSocket)", "scripts": "\(scripts)"}}]}
            """.write(toFile: setup.dir.file("agent.json"), atomically: true, encoding: .utf8)
        let agent = try setup.startAgent()
        defer { agent.terminate(); agent.waitUntilExit(); _ = setup.server.stop() }

        let asked = try setup.backupNowOnceReported(["--wait"])
        #expect(asked.status == 0, "\(asked.stderr)")
        let job = try JSONSerialization.jsonObject(with: Data(asked.stdout.utf8)) as! [String: Any]
        #expect(job["status"] as? String == "completed", "\(job)")
        #expect((job["tasks"] as! [[String: Any]]).map { $0["status"] as! String } == ["completed", "completed"])
        let point = try #require(job["recoveryPoint"] as? String)
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "pre\npost\n")

        let listed = try setup.run("tresor", ["list", "--vault", setup.server.url, "--json"], token: setup.admin)
        let points = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as! [[String: Any]]
        #expect(points.map { $0["consistency"] as? String } == ["application-consistent"], "\(points)")
        let board = try setup.run("tresor", ["dashboard", "--vault", setup.server.url], token: setup.admin)
        #expect(board.stdout.contains("newest point application-consistent"), "\(board.stdout)")

        // The snapshot tier keeps the copies for the default policy's instant-restore days.
        let kept = SnapshotTier(root: xfs.file("tier")).snapshots(vmName: "web")
        #expect(kept.count == 1 && kept.first?.record.recoveryPoint == point && kept.first?.record.consistency == .application)
        if let snapshot = kept.first {
            #expect(snapshot.record.keepUntilMillis - snapshot.record.createdAtMillis == Int64(BackupPolicy.defaultPolicy.instantRestoreDays) * 86_400_000)
            #expect(TestImages.equal("\(snapshot.folder)/disk-0.raw", xfs.file("os.img")))
        }
        let restored = try setup.run("tresor-restore", ["vm", "--vault", setup.server.url, "--vm", "web", "--output-dir", "whole",
                                                        "--keystore", "keys", "--kek", "main"], token: setup.admin, environment: JobTests.passphrase)
        #expect(restored.status == 0, "\(restored.stderr)")
        // The disks are named as the VM knows them, not by the snapshot's copies.
        #expect(try FileManager.default.contentsOfDirectory(atPath: setup.dir.file("whole")).sorted() == ["disk-0-os.img", "disk-1-data.img"])
        #expect(TestImages.equal(setup.dir.file("whole/disk-0-os.img"), xfs.file("os.img")))

        // QEMU is gone: the VM is stopped, no script runs, and the point is crash-consistent.
        vm.kill()
        let offline = try setup.backupNow(["--wait"])
        #expect(offline.status == 0, "\(offline.stderr)")
        let again = try setup.run("tresor", ["list", "--vault", setup.server.url, "--json"], token: setup.admin)
        let consistencies = (try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as! [[String: Any]]).map { $0["consistency"] as? String }
        #expect(consistencies == ["application-consistent", "crash-consistent"], "\(consistencies)")
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "pre\npost\n")
    }

    /// `tresor backup --snapshot-directory` on XFS: a reflink snapshot is read (crash-consistent), kept, and the
    /// next backup reads only what was written since; a file system without reflink is a clear error.
    @Test func theBackupCommandTakesReflinkSnapshotsAndSkipsWhatDidNotChange() throws {
        let xfs = try LoopMount(.xfs)
        let dir = TemporaryDirectory()
        try TestImages.write(xfs.file("disk.img"), size: 16 << 20, seed: 90)
        let environment = JobTests.passphrase
        #expect(try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path).status == 0)
        #expect(try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: environment, directory: dir.path).status == 0)
        func backup(_ tier: String) throws -> [String: Any] {
            let made = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "vm1", "--disk", xfs.file("disk.img"), "--keystore", "keys",
                                                   "--kek", "main", "--snapshot-directory", tier, "--json"], environment: environment, directory: dir.path)
            #expect(made.status == 0, "\(made.stderr)")
            return (try? JSONSerialization.jsonObject(with: Data(made.stdout.utf8)) as? [String: Any]) ?? [:]
        }
        let first = try backup(xfs.file("tier"))
        #expect(first["consistency"] as? String == "crash-consistent" && first["bytesUnchanged"] as? Int == 0)
        try FileManager.default.copyItem(atPath: xfs.file("disk.img"), toPath: dir.file("at-first.img"))
        try TestImages.scribble(xfs.file("disk.img"), blocks: 2, seed: 91)
        let second = try backup(xfs.file("tier"))
        #expect((second["bytesRead"] as? Int ?? .max) <= 2 << 20 && (second["bytesUnchanged"] as? Int ?? 0) >= 14 << 20, "\(second)")
        #expect(SnapshotTier(root: xfs.file("tier")).snapshots(vmName: "vm1").count == 2)
        let restored = try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", "vm1", "--disk", "0", "--output", "r.img",
                                                          "--keystore", "keys", "--kek", "main"], environment: environment, directory: dir.path)
        #expect(restored.status == 0 && TestImages.equal(dir.file("r.img"), xfs.file("disk.img")), "\(restored.stderr)")

        // Instant restore from the tier, without the vault: a reflink clone on the tier's file system, a
        // sparse copy elsewhere; both the disk as it was at that point.
        func instant(_ point: String, _ output: String) throws -> [String: Any] {
            let made = try Programs.run("tresor-restore", ["instant", "--snapshot-directory", xfs.file("tier"), "--vm", "vm1", "--recovery-point", point,
                                                           "--disk", "0", "--output", output, "--json"], directory: dir.path)
            #expect(made.status == 0, "\(made.stderr)")
            return (try? JSONSerialization.jsonObject(with: Data(made.stdout.utf8)) as? [String: Any]) ?? [:]
        }
        let clone = try instant(first["recoveryPoint"] as! String, xfs.file("instant.img"))
        #expect(clone["method"] as? String == "reflink" && clone["consistency"] as? String == "crash-consistent")
        #expect(TestImages.equal(xfs.file("instant.img"), dir.file("at-first.img")))
        let copy = try instant("latest", dir.file("instant.img"))
        #expect(copy["method"] as? String == "sparse-copy" && copy["recoveryPoint"] as? String == second["recoveryPoint"] as? String)
        #expect(TestImages.equal(dir.file("instant.img"), xfs.file("disk.img")))
        #expect((try FileManager.default.attributesOfItem(atPath: dir.file("instant.img"))[.posixPermissions] as? Int) == 0o600)
        let unknown = try Programs.run("tresor-restore", ["instant", "--snapshot-directory", xfs.file("tier"), "--vm", "vm1", "--recovery-point",
                                                          "00000000", "--disk", "0", "--output", "x.img"], directory: dir.path)
        #expect(unknown.status != 0 && unknown.stderr.contains("error[catalog.not_found]"), "\(unknown.stderr)")
        // The tier on another file system: no reflink across, and the backup says why.
        let across = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "vm1", "--disk", xfs.file("disk.img"), "--keystore", "keys",
                                                 "--kek", "main", "--snapshot-directory", dir.file("tier")], environment: environment, directory: dir.path)
        #expect(across.status != 0 && across.stderr.contains("error[snapshot.failed]") && across.stderr.contains("different file systems"),
                "\(across.stderr)")
    }
}
