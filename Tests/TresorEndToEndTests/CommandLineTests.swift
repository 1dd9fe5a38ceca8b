import Foundation
import Testing
import TresorChunkStore
import TresorTestSupport

/// The programs as a user runs them: exit codes, one-line errors with stable codes, --json output.
@Suite(.serialized)
struct CommandLineTests {
    let env = ["TRESOR_PASSPHRASE": "end-to-end passphrase"]

    func json(_ text: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    @Test func backupListRestoreVerifyAsAUserWould() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("os.img"), size: 12 << 20, seed: 1)
        try TestImages.write(dir.file("data.img"), size: 5 << 20, seed: 2)
        #expect(try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path).status == 0)
        let create = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        #expect(create.status == 0, "\(create.stderr)")
        #expect(!create.stdout.contains(env["TRESOR_PASSPHRASE"]!) && !create.stderr.contains(env["TRESOR_PASSPHRASE"]!))

        let backup = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "web", "--disk", "os.img", "--disk", "data.img",
                                                 "--keystore", "keys", "--kek", "main", "--json"], environment: env, directory: dir.path)
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stderr.isEmpty, "no progress output when not on a terminal")
        let result = try json(backup.stdout)
        for key in ["recoveryPoint", "bytesRead", "bytesStored", "chunksNew", "chunksReused", "chunksZero", "seconds"] {
            #expect(result[key] != nil, "missing \(key)")
        }
        #expect(result["bytesRead"] as? Int == 17 << 20)

        let plain = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "web", "--disk", "os.img", "--disk", "data.img",
                                                "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
        #expect(plain.status == 0)
        let secondID = plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(UUID(uuidString: secondID) != nil, "plain output is the recovery point's ID")

        let list = try Programs.run("tresor", ["list", "--vault", "vault", "--vm", "web", "--json"], directory: dir.path)
        let points = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as! [[String: Any]]
        #expect(points.count == 2)
        #expect(points.last?["id"] as? String == secondID)

        let restore = try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", "web", "--recovery-point",
                                                          result["recoveryPoint"] as! String, "--disk", "1", "--output", "d1.img",
                                                          "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(TestImages.equal(dir.file("d1.img"), dir.file("data.img")))
        let again = try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", "web", "--disk", "1", "--output", "d1.img",
                                                        "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
        #expect(again.status != 0 && again.stderr.contains("error[restore.target_exists]"))
        let vm = try Programs.run("tresor-restore", ["vm", "--vault", "vault", "--vm", "web", "--output-dir", "whole/",
                                                     "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
        #expect(vm.status == 0, "\(vm.stderr)")
        #expect(vm.stdout.contains("to whole/disk-0-os.img") && !vm.stdout.contains("//"), "\(vm.stdout)")
        #expect(TestImages.equal(dir.file("whole/disk-0-os.img"), dir.file("os.img")))

        let verify = try Programs.run("tresor", ["verify", "--vault", "vault", "--read-data", "--keystore", "keys", "--kek", "main", "--json"],
                                      environment: env, directory: dir.path)
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(try json(verify.stdout)["ok"] as? Bool == true)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/script"), "needs script(1) for a pseudo-terminal"))
    func progressShowsOnATerminalOnly() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("os.img"), size: 8 << 20, seed: 12)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let command = "\(Programs.binDirectory)/tresor backup --vault vault --vm a --disk os.img --keystore keys --kek main"
        let terminal = try Programs.runSystemCapturing("/usr/bin/script", ["-qefc", command, "/dev/null"], environment: env,
                                                       directory: dir.path)
        #expect(terminal.contains("backup 8.0 MiB / 8.0 MiB") && terminal.contains("MB/s") && terminal.contains("left"), "\(terminal)")
        let piped = try Programs.run("tresor", command.split(separator: " ").dropFirst().map(String.init), environment: env,
                                     directory: dir.path)
        #expect(piped.status == 0 && piped.stderr.isEmpty)
    }

    @Test func badInputGetsOneLineWithAStableCode() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("os.img"), size: 2 << 20, seed: 3)
        #expect(mkfifo(dir.file("pipe.img"), 0o600) == 0)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let cases: [([String], [String: String], String)] = [
            (["backup", "--vault", "nowhere", "--vm", "a", "--disk", "os.img", "--keystore", "keys", "--kek", "main"], env, "vault.not_a_vault"),
            (["backup", "--vault", "vault", "--vm", "a", "--disk", "missing.img", "--keystore", "keys", "--kek", "main"], env, "disk.unreadable"),
            // A named pipe is refused at once; opening it for reading used to wait for a writer forever.
            (["backup", "--vault", "vault", "--vm", "a", "--disk", "pipe.img", "--keystore", "keys", "--kek", "main"], env, "disk.unreadable"),
            (["backup", "--vault", "vault", "--vm", "a", "--disk", "os.img", "--keystore", "keys", "--kek", "main"],
             ["TRESOR_PASSPHRASE": "not the passphrase"], "keys.wrong_passphrase"),
            (["backup", "--vault", "vault", "--vm", "a", "--disk", "os.img", "--keystore", "keys", "--kek", "nope"], env, "keys.kek_not_found"),
            (["backup", "--vault", "vault", "--vm", "a", "--disk", "os.img", "--keystore", "keys", "--kek", "main"], [:], "keys.passphrase_required"),
            (["keys", "create", "r", "--keystore", "keys", "--type", "rsa"], env, "keys.unsupported_type"),
            // VM and host names tell VMs apart in lists and jobs: none empty, padded or with a control character.
            (["backup", "--vault", "vault", "--vm", "", "--disk", "os.img", "--keystore", "keys", "--kek", "main"], env, "usage.invalid_argument"),
            (["backup", "--vault", "vault", "--vm", "web ", "--disk", "os.img", "--keystore", "keys", "--kek", "main"], env, "usage.invalid_argument"),
            (["backup", "--vault", "vault", "--vm", "a", "--host", "h\n1", "--disk", "os.img", "--keystore", "keys", "--kek", "main"], env,
             "usage.invalid_argument"),
            (["list", "--vault", "http://127.0.0.1:1", "--token-file", "missing.token"], [:], "usage.invalid_argument"),
        ]
        for (arguments, environment, code) in cases {
            let run = try Programs.run("tresor", arguments, environment: environment, directory: dir.path)
            #expect(run.status == 1, "\(arguments)")
            let lines = run.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("tresor: error[\(code)]"), "\(arguments): \(run.stderr)")
            #expect(!run.stderr.contains("not the passphrase") && !run.stderr.contains(env["TRESOR_PASSPHRASE"]!))
        }
        let list = try Programs.run("tresor", ["list", "--vault", "vault", "--json"], directory: dir.path)
        #expect(list.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || list.stdout.contains("[]"))
        // A malformed command line is said in the same one line, with exit status 64, naming the help to read.
        let malformed: [(String, [String], String)] = [
            ("tresor", ["backup", "--vault", "vault", "--vm", "a", "--disk", "os.img", "--keystore", "keys", "--kek", "main", "--chunk-size", "8MiB"],
             "tresor backup --help"),
            ("tresor", ["list", "--vault", "vault", "--no-such-flag"], "tresor list --help"),
            ("tresor-restore", ["disk", "--vault", "vault", "--vm", "a", "--output", "o.img", "--keystore", "keys", "--kek", "main"],
             "tresor-restore disk --help"),
            ("tresor-vault", ["token", "create"], "tresor-vault token create --help"),
        ]
        for (program, arguments, help) in malformed {
            let run = try Programs.run(program, arguments, environment: env, directory: dir.path)
            let lines = run.stderr.split(separator: "\n")
            #expect(run.status == 64 && lines.count == 1 && lines[0].hasPrefix("\(program): error[usage.invalid_argument]: ")
                    && lines[0].hasSuffix(" — see '\(help)'"), "\(arguments): \(run.stderr)")
        }
        #expect(try Programs.run("tresor", ["backup", "--help"], directory: dir.path).stdout.contains("USAGE: tresor backup"))
    }

    @Test func verifyExitsNonZeroAndTheNextBackupRepairs() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("os.img"), size: 6 << 20, seed: 4)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let args = ["backup", "--vault", "vault", "--vm", "a", "--disk", "os.img", "--keystore", "keys", "--kek", "main", "--json"]
        #expect(try Programs.run("tresor", args, environment: env, directory: dir.path).status == 0)
        let chunks = FileManager.default.enumerator(atPath: dir.file("vault/store/domains"))!.compactMap { $0 as? String }
            .filter { $0.contains("/chunks/") && $0.count > 70 }
        try flipByte(dir.file("vault/store/domains/" + chunks[0]), at: 100)
        let verify = try Programs.run("tresor", ["verify", "--vault", "vault", "--read-data", "--keystore", "keys", "--kek", "main"],
                                      environment: env, directory: dir.path)
        #expect(verify.status == 2)
        #expect(verify.stdout.contains("DAMAGE chunk-altered") && verify.stdout.contains("a/"))
        let repaired = try json(try Programs.run("tresor", args, environment: env, directory: dir.path).stdout)
        #expect(repaired["chunksNew"] as? Int == 1)
        // The repair took the unchanged content's IDs from the change cache, the damaged one's included,
        // and still stored that chunk again: the cache never overrides what verify marked bad.
        #expect((repaired["chunksIDFromCache"] as? Int ?? 0) > 0)
        let uncached = try json(try Programs.run("tresor", args + ["--no-cache"], environment: env, directory: dir.path).stdout)
        #expect(uncached["chunksIDFromCache"] as? Int == 0 && uncached["chunksNew"] as? Int == 0)
        let subset = try Programs.run("tresor", ["verify", "--vault", "vault", "--read-data-subset", "50%", "--keystore", "keys",
                                                 "--kek", "main"], environment: env, directory: dir.path)
        // Both recovery points name the chunk by its ID, and the repair rewrote that object: both are sound again.
        #expect(subset.status == 0, "\(subset.stdout)")
    }

    @Test func readersRunBesideAWriterAndASecondWriterIsTurnedAway() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("os.img"), size: 2 << 20, seed: 10)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let backup = ["backup", "--vault", "vault", "--vm", "a", "--disk", "os.img", "--keystore", "keys", "--kek", "main"]
        #expect(try Programs.run("tresor", backup, environment: env, directory: dir.path).status == 0)
        // Hold the writer's lock as a running backup would.
        let held = try VaultDirectory.open(at: dir.file("vault")).lock(exclusive: true)
        defer { withExtendedLifetime(held) {} }
        let busy = try Programs.run("tresor", backup, environment: env, directory: dir.path)
        #expect(busy.status == 1 && busy.stderr.contains("error[vault.busy]"))
        #expect(try Programs.run("tresor", ["list", "--vault", "vault"], directory: dir.path).status == 0)
        let restore = try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", "a", "--disk", "0", "--output", "r.img",
                                                          "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(TestImages.equal(dir.file("r.img"), dir.file("os.img")))
    }

    @Test func rebuildCatalogFromTheCommandLine() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("os.img"), size: 3 << 20, seed: 5)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        _ = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "a", "--disk", "os.img", "--keystore", "keys", "--kek", "main"],
                             environment: env, directory: dir.path)
        // A catalog older than the store, as a backup killed between its manifest and its catalog row leaves
        // it: a reader brings the missing point in, as a writer would.
        let catalogFiles = try FileManager.default.contentsOfDirectory(atPath: dir.file("vault")).filter { $0.hasPrefix("catalog.sqlite") }
        for file in catalogFiles { try FileManager.default.copyItem(atPath: dir.file("vault/\(file)"), toPath: dir.file("saved-\(file)")) }
        _ = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "a", "--disk", "os.img", "--keystore", "keys", "--kek", "main"],
                             environment: env, directory: dir.path)
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.file("vault")) where file.hasPrefix("catalog.sqlite") {
            try FileManager.default.removeItem(atPath: dir.file("vault/\(file)"))
        }
        for file in catalogFiles { try FileManager.default.copyItem(atPath: dir.file("saved-\(file)"), toPath: dir.file("vault/\(file)")) }
        let listed = try Programs.run("tresor", ["list", "--vault", "vault", "--vm", "a", "--json"], directory: dir.path)
        let points = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [Any]
        #expect(listed.status == 0 && points?.count == 2, "\(listed.stdout) \(listed.stderr)")

        try FileManager.default.removeItem(atPath: dir.file("vault/catalog.sqlite"))
        // Readers do not take an empty catalog for an empty vault.
        let lost = try Programs.run("tresor", ["list", "--vault", "vault"], directory: dir.path)
        #expect(lost.status == 1 && lost.stderr.contains("error[catalog.error]") && lost.stderr.contains("rebuild-catalog"), "\(lost.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("vault/catalog.sqlite")))
        let rebuild = try Programs.run("tresor-vault", ["rebuild-catalog", "vault", "--json"], directory: dir.path)
        #expect(rebuild.status == 0, "\(rebuild.stderr)")
        #expect(try json(rebuild.stdout)["recoveryPoints"] as? Int == 2)
        let info = try json(try Programs.run("tresor-vault", ["info", "vault", "--json"], directory: dir.path).stdout)
        let usage = info["usage"] as! [String: Any]
        #expect(usage["recoveryPoints"] as? Int == 2 && usage["vms"] as? Int == 1 && usage["logicalBytes"] as? Int == 6 << 20)
        #expect((usage["storedBytes"] as? Int ?? 0) > 0 && (usage["chunks"] as? Int ?? 0) > 0)
        let restore = try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", "a", "--disk", "0", "--output", "r.img",
                                                          "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
        #expect(restore.status == 0)
        #expect(TestImages.equal(dir.file("r.img"), dir.file("os.img")))
        #expect(try Programs.run("tresor-vault", ["rebuild-catalog", dir.path], directory: dir.path).stderr.contains("vault.not_a_vault"))
    }

    @Test func aWriteOnlyClientFromTheCommandLine() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("os.img"), size: 4 << 20, seed: 6)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        #expect(try Programs.run("tresor", ["keys", "create", "ops", "--keystore", "keys", "--type", "x25519"], environment: env, directory: dir.path).status == 0)
        let export = try Programs.run("tresor", ["keys", "export-public", "ops", "--keystore", "keys", "--output", "client"], environment: env, directory: dir.path)
        #expect(export.status == 0, "\(export.stderr)")
        // The client needs no passphrase.
        let backup = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "a", "--disk", "os.img", "--keystore", "client", "--kek", "ops"],
                                      directory: dir.path)
        #expect(backup.status == 0, "\(backup.stderr)")
        let denied = try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", "a", "--disk", "0", "--output", "r.img",
                                                         "--keystore", "client", "--kek", "ops"], directory: dir.path)
        #expect(denied.status == 1 && denied.stderr.contains("error[keys.write_only_client]"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("r.img")))
        let allowed = try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", "a", "--disk", "0", "--output", "r.img",
                                                          "--keystore", "keys", "--kek", "ops"], environment: env, directory: dir.path)
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(TestImages.equal(dir.file("r.img"), dir.file("os.img")))
    }
}
