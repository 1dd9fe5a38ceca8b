import Foundation
import Testing
import TresorTestSupport

/// `tresor-restore browse` and `extract` on disks made by Debian's tools, through the vault.
@Suite(.serialized, .enabled(if: GuestImages.available, "needs mkfs.ext4 and sfdisk (Tools/install-deps.sh)"))
struct FileRestoreTests {
    let env = ["TRESOR_PASSPHRASE": "end-to-end passphrase"]

    func restore(_ arguments: [String], in dir: TemporaryDirectory) throws -> Programs.Result {
        try Programs.run("tresor-restore", arguments + ["--vault", "vault", "--vm", "guest", "--disk", "0", "--keystore", "keys", "--kek", "main"],
                         environment: env, directory: dir.path)
    }

    @Test func filesComeOutOfARecoveryPointWithTheirMetadataAndNothingEscapes() throws {
        let dir = TemporaryDirectory()
        try GuestImages.makeTree(dir.file("tree"))
        try GuestImages.ext4(from: dir.file("tree"), to: dir.file("fs.img"), sizeMiB: 30)
        // A hostile copy: the directory entry "alice" renamed "../.." in the file system's own bytes.
        var hostile = try Data(contentsOf: URL(fileURLWithPath: dir.file("fs.img")))
        let needle = Data([5, 2] + Array("alice".utf8))
        let found = try #require(hostile.range(of: needle))
        hostile.replaceSubrange(found.lowerBound + 2..<found.upperBound, with: Data("../..".utf8))
        try hostile.write(to: URL(fileURLWithPath: dir.file("hostile.img")))
        try GuestImages.disk(dir.file("disk.img"), fileSystem: dir.file("fs.img"), gpt: true)

        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        for image in ["disk.img", "hostile.img"] {
            let backup = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "guest", "--disk", image, "--keystore", "keys", "--kek", "main"],
                                          environment: env, directory: dir.path)
            #expect(backup.status == 0, "\(backup.stderr)")
        }
        let points = try JSONSerialization.jsonObject(with: Data(try Programs.run("tresor", ["list", "--vault", "vault", "--json"], directory: dir.path).stdout.utf8)) as! [[String: Any]]
        let diskPoint = points[0]["id"] as! String
        let hostilePoint = points[1]["id"] as! String

        let partitions = try restore(["browse", "--recovery-point", diskPoint], in: dir)
        #expect(partitions.status == 0 && partitions.stdout.contains("gpt with 2 partitions") && partitions.stdout.contains("root"), "\(partitions.stdout)")
        let listing = try restore(["browse", "--recovery-point", diskPoint, "--partition", "2", "--path", "/etc", "--json"], in: dir)
        #expect(listing.status == 0, "\(listing.stderr)")
        let browsed = try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as! [String: Any]
        #expect((browsed["entries"] as? [[String: Any]])?.first?["name"] as? String == "hosts")
        #expect((browsed["chunksFetched"] as? Int ?? 99) <= 4, "browsing /etc reads a few chunks, not the 40 MiB disk: \(browsed["chunksFetched"] ?? "?")")

        let extract = try restore(["extract", "--recovery-point", diskPoint, "--partition", "2", "--path", "/", "--output-dir", "out", "--json"], in: dir)
        #expect(extract.status == 0, "\(extract.stderr)")
        let out = dir.file("out/root")
        #expect(FileManager.default.contentsEqual(atPath: "\(out)/home/alice/big.bin", andPath: dir.file("tree/home/alice/big.bin")))
        let hosts = try FileManager.default.attributesOfItem(atPath: "\(out)/etc/hosts")
        #expect(hosts[.posixPermissions] as? Int == 0o640 && hosts[.ownerAccountID] as? Int == 1000 && hosts[.groupOwnerAccountID] as? Int == 1001)
        #expect((hosts[.modificationDate] as? Date)?.timeIntervalSince1970 == 1_577_934_245)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/home/alice/link") == "../etc/hosts")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/home/alice/abs") == "/etc/shadow", "kept as a link, never followed")
        var st = stat()
        stat("\(out)/home/alice/sparse.bin", &st)
        #expect(st.st_size == 50 << 20 && st.st_blocks * 512 < 1 << 20, "holes stay holes")
        #expect(try FileManager.default.attributesOfItem(atPath: "\(out)/home/suid")[.posixPermissions] as? Int == 0o755, "setuid only with --setuid")
        stat("\(out)/home/alice/huge.bin", &st)
        #expect(st.st_size == 5 << 30 && st.st_blocks * 512 < 1 << 20, "a 5 GiB sparse file comes out sparse")
        #expect(FileManager.default.contentsEqual(atPath: "\(out)/home/alice/fragmented.bin", andPath: dir.file("tree/home/alice/fragmented.bin")))
        let leaf = "\(out)/deep/" + (1...40).map { "d\($0)" }.joined(separator: "/") + "/leaf.txt"
        #expect(try String(contentsOfFile: leaf, encoding: .utf8) == "deep\n")
        let again = try restore(["extract", "--recovery-point", diskPoint, "--partition", "2", "--path", "/etc/hosts", "--output-dir", "out/root/etc"], in: dir)
        #expect(again.status != 0 && again.stderr.contains("error[restore.target_exists]"), "nothing is overwritten: \(again.stderr)")
        let kept = try restore(["extract", "--recovery-point", diskPoint, "--partition", "2", "--path", "/home/suid", "--output-dir", "suid", "--setuid"], in: dir)
        #expect(kept.status == 0)
        let suidMode = try FileManager.default.attributesOfItem(atPath: dir.file("suid/suid"))[.posixPermissions] as? Int
        #expect(suidMode == 0o4755)

        // The hostile file system: the entry named "../.." is skipped, nothing lands outside the folder.
        let before = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let bad = try restore(["extract", "--recovery-point", hostilePoint, "--path", "/home", "--output-dir", "inside/x", "--json"], in: dir)
        #expect(bad.status == 0, "\(bad.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(bad.stdout.utf8)) as! [String: Any]
        #expect((report["skipped"] as? [String])?.contains { $0.contains("unsafe name") } == true, "\(bad.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == (before + ["inside"]).sorted())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("inside/x/home")).sorted() == ["fifo", "suid"])

        let missing = try restore(["extract", "--recovery-point", diskPoint, "--partition", "2", "--path", "/nope", "--output-dir", "n"], in: dir)
        #expect(missing.status != 0 && missing.stderr.contains("error[filesystem.path_not_found]"))
        let wrong = try restore(["browse", "--recovery-point", diskPoint, "--partition", "1"], in: dir)
        #expect(wrong.status != 0 && wrong.stderr.contains("error[filesystem.unsupported]"), "the empty ESP: \(wrong.stderr)")

        // Against a served vault, an extraction is a restore job.
        let token = try Programs.run("tresor-vault", ["token", "create", "vault", "--role", "restore"], directory: dir.path).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try ServedVault(directory: dir.file("vault"))
        defer { _ = server.stop() }
        let served = try Programs.run("tresor-restore", ["extract", "--vault", server.url, "--vm", "guest", "--disk", "0", "--recovery-point", diskPoint,
                                                         "--partition", "2", "--path", "/home/alice/big.bin", "--output-dir", "served",
                                                         "--keystore", "keys", "--kek", "main"],
                                      environment: env.merging(["TRESOR_TOKEN": token]) { $1 }, directory: dir.path)
        #expect(served.status == 0, "\(served.stderr)")
        #expect(FileManager.default.contentsEqual(atPath: dir.file("served/big.bin"), andPath: dir.file("tree/home/alice/big.bin")))
        let jobs = try Programs.run("tresor", ["job", "list", "--vault", server.url, "--json"], environment: ["TRESOR_TOKEN": token], directory: dir.path)
        let listed = (try JSONSerialization.jsonObject(with: Data(jobs.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(listed.contains { $0["kind"] as? String == "restore" && $0["status"] as? String == "completed"
            && $0["bytesDone"] as? Int == 3_000_000 && ($0["message"] as? String)?.contains("files /home/alice/big.bin") == true }, "\(listed)")
    }
}
