import Foundation
import Testing
import TresorCore
import TresorSnapshot
import TresorTestSupport

/// Snapshots as the agent takes them, end to end on real file systems: a guest's ext4 disk image kept on
/// an XFS that can reflink, the guest file system mounted and frozen, Azure-format pre/post scripts, and
/// the consistency each combination earns; then the snapshot tier keeping and pruning the copies.
@Suite(.serialized)
struct ConsistencyTests {
    /// An XFS holding the snapshot tier and a guest disk image whose ext4 is mounted on the host.
    final class Guest {
        let xfs: LoopMount
        let guest: LoopMount
        let scripts = TemporaryDirectory()
        var disk: String { self.xfs.file("guest.img") }
        var tier: SnapshotTier { SnapshotTier(root: self.xfs.file("tier")) }

        init() throws {
            self.xfs = try LoopMount(.xfs)
            self.guest = try LoopMount(.ext4, sizeMiB: 32, image: self.xfs.file("guest.img"))
            _ = FileManager.default.createFile(atPath: self.guest.file("app.data"), contents: Data("application state".utf8))
        }

        /// A root-owned script of mode 700 running `body`.
        func script(_ name: String, _ body: String) throws -> String {
            let path = self.scripts.file(name)
            try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o700)
            return path
        }

        /// The script configuration in Azure's format, mode 600.
        func config(pre: String, post: String, continueOnFailure: Bool = true, timeout: Int = 30, preRetries: Int = 0) throws -> String {
            let path = self.scripts.file("VMSnapshotScriptPluginConfig.json")
            let text = """
                {"pluginName": "ScriptRunner", "preScriptLocation": "\(pre)", "postScriptLocation": "\(post)",
                 "preScriptParams": ["\(self.guest.mountPoint)", ""], "postScriptParams": ["\(self.guest.mountPoint)", ""],
                 "preScriptNoOfRetries": \(preRetries), "postScriptNoOfRetries": 0, "timeoutInSeconds": \(timeout),
                 "continueBackupOnFailure": \(continueOnFailure), "fsFreezeEnabled": true, "ScriptsExecutionPollTimeSeconds": 3}
                """
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o600)
            return path
        }

        func take(_ settings: SnapshotSettings, power: ReportedVM.PowerState = .running, tag: String,
                  now: Int64 = 1_800_000_000_000) throws -> HeldSnapshot {
            try VMSnapshotter.take(VMSnapshotter.Request(vmName: "app vm", host: "hv1", diskPaths: [self.disk], settings: settings,
                                                         tier: self.tier, configuredPower: power, tag: tag, now: now))
        }

        /// Mounts a snapshot's copy read-only and returns a file of it: what a restore would find.
        func readFromCopy(_ copy: String, _ name: String) throws -> String? {
            let mountPoint = self.scripts.file("copy-mnt")
            try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
            guard try Programs.runSystem("/usr/bin/mount", ["-o", "loop,ro", copy, mountPoint]) == 0 else { return nil }
            defer { _ = try? Programs.runSystem("/usr/bin/umount", [mountPoint]) }
            return try? String(contentsOfFile: "\(mountPoint)/\(name)", encoding: .utf8)
        }
    }

    @Test func scriptsAndFreezeMakeAnApplicationConsistentCopyThatTheTierKeepsForItsDays() throws {
        let guest = try Guest()
        let pre = try guest.script("pre.sh", #"echo quiesced > "$1/quiesced.marker""#)
        let post = try guest.script("post.sh", #"echo resumed > "$1/resumed.marker""#)
        let settings = SnapshotSettings(method: .reflink, freeze: [guest.guest.mountPoint], scripts: try guest.config(pre: pre, post: post))
        let now: Int64 = 1_800_000_000_000
        let held = try guest.take(settings, tag: "job1", now: now)
        #expect(held.consistency == .application)
        #expect(held.warnings.isEmpty, "\(held.warnings)")
        let copy = try #require(held.readPaths.first)
        #expect(copy != guest.disk && copy.hasPrefix(guest.tier.root))
        // The copy is the guest file system as the pre-script left it, before the post-script ran.
        #expect(try guest.readFromCopy(copy, "quiesced.marker") == "quiesced\n")
        #expect(try guest.readFromCopy(copy, "resumed.marker") == nil)
        #expect(FileManager.default.fileExists(atPath: guest.guest.file("resumed.marker")))
        // The guest writes on; the copy does not change.
        try "newer state".write(toFile: guest.guest.file("app.data"), atomically: false, encoding: .utf8)
        #expect(try guest.readFromCopy(copy, "app.data") == "application state")

        held.release(recoveryPoint: "rp-1", keepUntilMillis: now + 86_400_000)
        let kept = guest.tier.snapshots(vmName: "app vm")
        #expect(kept.count == 1 && kept.first?.record.recoveryPoint == "rp-1" && kept.first?.record.consistency == .application)
        #expect(kept.first?.record.disks == [SnapshotRecord.Disk(sourcePath: guest.disk, file: "disk-0.raw")])
        #expect(guest.tier.prune(vmName: "app vm", now: now + 86_399_000).isEmpty, "kept until its day is over")
        #expect(guest.tier.prune(vmName: "app vm", now: now + 86_400_000).count == 1)
        #expect(guest.tier.snapshots(vmName: "app vm").isEmpty)
    }

    @Test func failuresDecideTheConsistencyOrFailTheSnapshot() throws {
        let guest = try Guest()
        let post = try guest.script("post.sh", #"echo resumed >> "$1/resumed.marker""#)
        let failing = try guest.script("failing.sh", "echo 'database did not quiesce' >&2; exit 3")

        // A failing pre-script with continueBackupOnFailure: frozen, so file-system-consistent, with the reason.
        let lenient = SnapshotSettings(method: .reflink, freeze: [guest.guest.mountPoint], scripts: try guest.config(pre: failing, post: post))
        let fallback = try guest.take(lenient, tag: "job2")
        #expect(fallback.consistency == .fileSystem)
        #expect(fallback.warnings.count == 1 && fallback.warnings[0].contains("script.failed")
                && fallback.warnings[0].contains("status 3: database did not quiesce"), "\(fallback.warnings)")
        fallback.release(recoveryPoint: nil, keepUntilMillis: 0)
        #expect(guest.tier.snapshots(vmName: "app vm").isEmpty, "a snapshot without a recovery point is not kept")

        // Without continueBackupOnFailure the snapshot fails, the post-script still resumes the application,
        // and nothing is left in the tier.
        try? FileManager.default.removeItem(atPath: guest.guest.file("resumed.marker"))
        let strict = SnapshotSettings(method: .reflink, freeze: [guest.guest.mountPoint],
                                      scripts: try guest.config(pre: failing, post: post, continueOnFailure: false))
        #expect(throws: TresorError.self) { try guest.take(strict, tag: "job3") }
        #expect(FileManager.default.fileExists(atPath: guest.guest.file("resumed.marker")))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: guest.tier.vmFolder("app vm"))) ?? []).isEmpty)

        // A script that hangs is killed at the timeout; a flaky one succeeds on its retry.
        let hanging = try guest.script("hanging.sh", "sleep 30")
        let timedOut = try guest.take(SnapshotSettings(method: .reflink, freeze: [guest.guest.mountPoint],
                                                       scripts: try guest.config(pre: hanging, post: post, timeout: 1)), tag: "job4")
        #expect(timedOut.consistency == .fileSystem && timedOut.warnings.first?.contains("script.timeout") == true)
        timedOut.release(recoveryPoint: nil, keepUntilMillis: 0)
        let flaky = try guest.script("flaky.sh", #"if [ -e "$1/tried" ]; then exit 0; fi; touch "$1/tried"; exit 1"#)
        let retried = try guest.take(SnapshotSettings(method: .reflink, freeze: [guest.guest.mountPoint],
                                                      scripts: try guest.config(pre: flaky, post: post, preRetries: 1)), tag: "job5")
        #expect(retried.consistency == .application)
        retried.release(recoveryPoint: nil, keepUntilMillis: 0)

        // Unsafe permissions are refused whatever continueBackupOnFailure says.
        let config = try guest.config(pre: post, post: post)
        chmod(config, 0o644)
        do {
            _ = try guest.take(SnapshotSettings(method: .reflink, scripts: config), tag: "job6")
            Issue.record("a script configuration others can read was used")
        } catch let error as TresorError {
            #expect(error.code == .scriptPermission && error.message.contains("mode 600"), "\(error)")
        }
        chmod(config, 0o600)
        chmod(post, 0o755)
        let unsafeScript = try guest.take(SnapshotSettings(method: .reflink, freeze: [guest.guest.mountPoint], scripts: config), tag: "job7")
        #expect(unsafeScript.consistency == .fileSystem && unsafeScript.warnings.first?.contains("script.permission") == true)
        unsafeScript.release(recoveryPoint: nil, keepUntilMillis: 0)

        // No scripts and no freeze: crash-consistent. A stopped VM: crash-consistent, and no script runs.
        let plain = try guest.take(SnapshotSettings(method: .reflink), tag: "job8")
        #expect(plain.consistency == .crash)
        plain.release(recoveryPoint: nil, keepUntilMillis: 0)
        chmod(post, 0o700)
        try? FileManager.default.removeItem(atPath: guest.guest.file("resumed.marker"))
        let stopped = try guest.take(SnapshotSettings(method: .reflink, freeze: [guest.guest.mountPoint], scripts: config),
                                     power: .stopped, tag: "job9")
        #expect(stopped.consistency == .crash && !FileManager.default.fileExists(atPath: guest.guest.file("resumed.marker")))
        stopped.release(recoveryPoint: nil, keepUntilMillis: 0)
        // No snapshot method: the live disk is read.
        let live = try guest.take(SnapshotSettings(method: .none), tag: "job10")
        #expect(live.consistency == .notSnapshotted && live.readPaths == [guest.disk])
    }

    @Test func aQEMUSnapshotIsCopiedIntoTheTierWhereItCanBeAndHeldUntilReleaseWhereNot() throws {
        let xfs = try LoopMount(.xfs)
        try TestImages.write(xfs.file("vm.raw"), size: 16 << 20, seed: 9)
        let original = try Data(contentsOf: URL(fileURLWithPath: xfs.file("vm.raw")))
        let dir = TemporaryDirectory()
        let vm = try QEMUMachine(disks: [xfs.file("vm.raw")], in: dir)
        let settings = SnapshotSettings(method: .qmp, qmpSocket: vm.qmpSocket)
        func take(tier: String, tag: String) throws -> HeldSnapshot {
            try VMSnapshotter.take(VMSnapshotter.Request(vmName: "qvm", host: "hv1", diskPaths: [xfs.file("vm.raw")], settings: settings,
                                                         tier: SnapshotTier(root: tier), configuredPower: .unknown, tag: tag, now: 1))
        }
        func guestWrites(_ byte: String) throws {
            let qmp = try #require(try QMPConnection.connectIfListening(vm.qmpSocket))
            try qmp.execute("human-monitor-command", ["command-line": "qemu-io drive0 \"write -P \(byte) 0 4096\""])
        }

        // Tier on the disk's XFS: the disk file is reflinked and the VM is back on it before the backup reads.
        let cloned = try take(tier: xfs.file("tier"), tag: "a")
        #expect(cloned.consistency == .crash && cloned.keepsCopies)
        try guestWrites("0x42")
        #expect(try Data(contentsOf: URL(fileURLWithPath: cloned.readPaths[0])) == original)
        #expect(try ProviderTests.bytes(xfs.file("vm.raw")) == Array(repeating: 0x42, count: 8), "the VM writes to its disk again")
        cloned.release(recoveryPoint: "rp", keepUntilMillis: 2)

        // Tier on ext4: no copy; the backup reads the disk file under its overlay, committed at release.
        let before = try Data(contentsOf: URL(fileURLWithPath: xfs.file("vm.raw")))
        let held = try take(tier: dir.file("tier"), tag: "b")
        #expect(!held.keepsCopies && held.readPaths == [xfs.file("vm.raw")])
        try guestWrites("0x43")
        #expect(try Data(contentsOf: URL(fileURLWithPath: xfs.file("vm.raw"))) == before, "the disk stands still while held")
        held.release(recoveryPoint: "rp2", keepUntilMillis: 2)
        #expect(try ProviderTests.bytes(xfs.file("vm.raw")) == Array(repeating: 0x43, count: 8), "the overlay was committed")
        #expect(held.warnings.isEmpty, "\(held.warnings)")

        // QEMU gone: the VM is stopped, its disks are still, and the backup is crash-consistent.
        vm.kill()
        let offline = try take(tier: xfs.file("tier"), tag: "c")
        #expect(offline.consistency == .crash && offline.keepsCopies)
        offline.release(recoveryPoint: nil, keepUntilMillis: 0)
    }
}
