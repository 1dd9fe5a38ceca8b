import Foundation
import Testing
import TresorTestSupport

/// Crashes and full disks never leave a vault that lies about what it holds.
@Suite(.serialized)
struct CrashTests {
    let env = ["TRESOR_PASSPHRASE": "end-to-end passphrase"]

    func chunkCount(_ vault: String) -> Int {
        (FileManager.default.enumerator(atPath: vault + "/store/domains")?.compactMap { $0 as? String } ?? [])
            .filter { $0.contains("/chunks/") && !$0.contains(".tmp-") && $0.split(separator: "/").last!.count == 64 }.count
    }

    func recoveryPoints(_ dir: TemporaryDirectory) throws -> [[String: Any]] {
        let list = try Programs.run("tresor", ["list", "--vault", "vault", "--json"], directory: dir.path)
        return try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [[String: Any]]
    }

    @Test func aBackupKilledHalfWayLeavesNoRecoveryPointAndTheNextOneReusesItsChunks() throws {
        let dir = TemporaryDirectory()
        // Random data, so every chunk is new and the backup takes a while.
        let size = 256 << 20
        let handle = FileManager.default.createFile(atPath: dir.file("big.img"), contents: nil)
        #expect(handle)
        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file("big.img")))
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<(size >> 20) {
            try writer.write(contentsOf: (0..<(1 << 17)).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } })
        }
        try writer.close()
        try TestImages.write(dir.file("small.img"), size: 3 << 20, seed: 8)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let base = ["backup", "--vault", "vault", "--keystore", "keys", "--kek", "main", "--json"]
        #expect(try Programs.run("tresor", base + ["--vm", "small", "--disk", "small.img"], environment: env, directory: dir.path).status == 0)

        let (process, _, _) = try Programs.start("tresor", base + ["--vm", "big", "--disk", "big.img"], environment: env, directory: dir.path)
        let deadline = Date().addingTimeInterval(120)
        while self.chunkCount(dir.file("vault")) < 20 + 2 && process.isRunning && Date() < deadline { usleep(2_000) }
        #expect(process.isRunning, "the backup must still be running when it is killed")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let written = self.chunkCount(dir.file("vault"))

        // No recovery point appeared; the earlier one is intact.
        #expect(try self.recoveryPoints(dir).map { $0["vmName"] as? String } == ["small"])
        let rerun = try Programs.run("tresor", base + ["--vm", "big", "--disk", "big.img"], environment: env, directory: dir.path)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as! [String: Any]
        #expect((result["chunksReused"] as! Int) >= written - 2 - 3, "chunks the killed backup wrote are reused")
        #expect((result["chunksNew"] as! Int) + (result["chunksReused"] as! Int) == 256)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("vault/store/tmp")).isEmpty,
                "the next writer removed what the killed one left half-written")
        for (vm, image) in [("big", "big.img"), ("small", "small.img")] {
            let restore = try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", vm, "--disk", "0", "--output", "r-\(vm).img",
                                                              "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
            #expect(restore.status == 0, "\(restore.stderr)")
            #expect(TestImages.equal(dir.file("r-\(vm).img"), dir.file(image)))
        }
        let verify = try Programs.run("tresor", ["verify", "--vault", "vault", "--read-data", "--keystore", "keys", "--kek", "main"],
                                      environment: env, directory: dir.path)
        #expect(verify.status == 0, "\(verify.stdout)")
    }

    @Test(.enabled(if: getuid() == 0, "mounting a small tmpfs needs root"))
    func aFullDiskFailsTheBackupAndKeepsEarlierPoints() throws {
        let dir = TemporaryDirectory()
        let mountPoint = dir.file("small-fs")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = try Programs.runSystem("/bin/mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mountPoint])
        #expect(mount == 0, "mount tmpfs")
        defer { _ = try? Programs.runSystem("/bin/umount", ["-l", mountPoint]) }
        try TestImages.write(dir.file("small.img"), size: 4 << 20, seed: 9)
        var generator = SystemRandomNumberGenerator()
        try Data((0..<(48 << 20) / 8).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } })
            .write(to: URL(fileURLWithPath: dir.file("big.img")))
        _ = try Programs.run("tresor-vault", ["init", mountPoint + "/vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let base = ["backup", "--vault", mountPoint + "/vault", "--keystore", "keys", "--kek", "main"]
        #expect(try Programs.run("tresor", base + ["--vm", "small", "--disk", "small.img"], environment: env, directory: dir.path).status == 0)
        let full = try Programs.run("tresor", base + ["--vm", "big", "--disk", "big.img"], environment: env, directory: dir.path)
        #expect(full.status == 1)
        #expect(full.stderr.contains("error[storage.full]"), "\(full.stderr)")
        let list = try Programs.run("tresor", ["list", "--vault", mountPoint + "/vault", "--json"], directory: dir.path)
        let points = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [[String: Any]]
        #expect(points.map { $0["vmName"] as? String } == ["small"])
        let restore = try Programs.run("tresor-restore", ["disk", "--vault", mountPoint + "/vault", "--vm", "small", "--disk", "0",
                                                          "--output", "r.img", "--keystore", "keys", "--kek", "main"],
                                       environment: env, directory: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(TestImages.equal(dir.file("r.img"), dir.file("small.img")))
    }
}
