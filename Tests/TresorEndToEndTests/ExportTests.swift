import Foundation
import Testing
import TresorTestSupport

/// `tresor-restore export`: a recovery point served as NBD, read by Debian's own clients (qemu-img,
/// nbdinfo, nbdcopy from libnbd-bin).
@Suite(.serialized, .enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/nbdinfo") && FileManager.default.fileExists(atPath: "/usr/bin/qemu-img"),
                             "needs libnbd-bin and qemu-utils (Tools/install-deps.sh)"))
struct ExportTests {
    let env = ["TRESOR_PASSPHRASE": "end-to-end passphrase"]

    func tool(_ path: String, _ arguments: [String], in dir: TemporaryDirectory) throws -> String {
        try Programs.runSystemCapturing(path, arguments, environment: [:], directory: dir.path)
    }

    @Test func aRecoveryPointServedAsNBDReadsAsTheDiskWithItsHoles() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("disk.img"), size: 20 << 20, seed: 95)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let backup = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "web", "--disk", "disk.img", "--keystore", "keys",
                                                 "--kek", "main", "--json"], environment: env, directory: dir.path)
        #expect(backup.status == 0, "\(backup.stderr)")

        let refused = try Programs.run("tresor-restore", ["export", "--vault", "vault", "--vm", "web", "--disk", "0", "--listen", "0.0.0.0:10899",
                                                          "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
        #expect(refused.status != 0 && refused.stderr.contains("loopback only"), "\(refused.stderr)")

        let socket = dir.file("disk.sock")
        let (export, out, _) = try Programs.start("tresor-restore", ["export", "--vault", "vault", "--vm", "web", "--disk", "0", "--socket", socket,
                                                                     "--name", "web-os", "--keystore", "keys", "--kek", "main", "--json"],
                                                  environment: env, directory: dir.path)
        defer { if export.isRunning { kill(export.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
        #expect((try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int) == 0o600)
        let uri = "nbd+unix:///web-os?socket=\(socket)"

        let compare = try tool("/usr/bin/qemu-img", ["compare", "-f", "raw", "-F", "raw", uri, "disk.img"], in: dir)
        #expect(compare.contains("Images are identical"), "\(compare)")
        let info = try tool("/usr/bin/nbdinfo", [uri], in: dir)
        #expect(info.contains("export-size: \(20 << 20)") && info.contains("base:allocation") && info.contains("is_read_only: true"), "\(info)")
        _ = try tool("/usr/bin/nbdcopy", [uri, dir.file("copy.img")], in: dir)
        #expect(TestImages.equal(dir.file("copy.img"), dir.file("disk.img")))

        // Block status: the holes nbdinfo reports are exactly the all-zero 1 MiB chunks of the image.
        let map = try tool("/usr/bin/nbdinfo", ["--map", uri], in: dir)
        let image = try Data(contentsOf: URL(fileURLWithPath: dir.file("disk.img")))
        var holes = Set<Int>()
        for line in map.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, let start = Int(fields[0]), let length = Int(fields[1]), fields[2] == "3" else { continue }
            for chunk in stride(from: start >> 20, to: (start + length) >> 20, by: 1) { holes.insert(chunk) }
        }
        let zeroChunks = Set((0..<20).filter { chunk in image[chunk << 20..<(chunk + 1) << 20].allSatisfy { $0 == 0 } })
        #expect(!zeroChunks.isEmpty && holes == zeroChunks, "map: \(map)")

        if FileManager.default.fileExists(atPath: "/usr/bin/qemu-io") {
            let write = try tool("/usr/bin/qemu-io", ["-f", "raw", "-c", "write 0 4k", uri], in: dir)
            #expect(!write.contains("wrote 4096"), "a read-only export takes no write: \(write)")
        }

        kill(export.processIdentifier, SIGTERM)
        export.waitUntilExit()
        #expect(export.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: socket), "the socket goes with the export")
        let started = try JSONSerialization.jsonObject(with: out.fileHandleForReading.readDataToEndOfFile()) as? [String: Any]
        #expect((started?["uris"] as? [String])?.first == uri)
    }

    /// Starts an export and waits for its socket.
    func startExport(_ extra: [String], socket: String, in dir: TemporaryDirectory) throws -> (Process, Pipe) {
        let (export, out, _) = try Programs.start("tresor-restore", ["export", "--vault", "vault", "--vm", "web", "--disk", "0", "--socket", socket,
                                                                     "--keystore", "keys", "--kek", "main", "--json"] + extra,
                                                  environment: env, directory: dir.path)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
        return (export, out)
    }

    @Test func anOverlayTakesWritesAndMigrationMakesItTheWholeDiskWithoutTheVault() throws {
        let dir = TemporaryDirectory()
        try TestImages.write(dir.file("disk.img"), size: 16 << 20, seed: 96)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let backup = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "web", "--disk", "disk.img", "--keystore", "keys",
                                                 "--kek", "main"], environment: env, directory: dir.path)
        #expect(backup.status == 0, "\(backup.stderr)")
        let socket = dir.file("disk.sock")
        let uri = "nbd+unix:///tresor?socket=\(socket)"

        // A write that starts and ends inside blocks, so both edge blocks must first be filled from the vault.
        var expected = try Data(contentsOf: URL(fileURLWithPath: dir.file("disk.img")))
        expected.replaceSubrange(5000..<25000, with: Data(repeating: 0xab, count: 20000))
        try expected.write(to: URL(fileURLWithPath: dir.file("expected.img")))

        let (first, _) = try startExport(["--overlay", "overlay.img"], socket: socket, in: dir)
        let write = try tool("/usr/bin/qemu-io", ["-f", "raw", "-c", "write -P 0xab 5000 20000", "-c", "flush", uri], in: dir)
        #expect(write.contains("wrote 20000/20000"), "\(write)")
        let compare = try tool("/usr/bin/qemu-img", ["compare", "-f", "raw", "-F", "raw", uri, "expected.img"], in: dir)
        #expect(compare.contains("Images are identical"), "reads see the write and the vault around it: \(compare)")
        kill(first.processIdentifier, SIGTERM)
        first.waitUntilExit()
        #expect((try FileManager.default.attributesOfItem(atPath: dir.file("overlay.img"))[.posixPermissions] as? Int) == 0o600)

        // Continued with migration: the rest comes from the vault, the write stays.
        let (second, out) = try startExport(["--overlay", "overlay.img", "--migrate"], socket: socket, in: dir)
        defer { if second.isRunning { kill(second.processIdentifier, SIGKILL) } }
        var printed = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !printed.contains("\"migrated\":true") {
            printed += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(printed.contains("\"migrated\":true"), "\(printed)")
        #expect(TestImages.equal(dir.file("overlay.img"), dir.file("expected.img")), "the overlay is the whole disk, with the VM's write")

        // The vault gone, the export still serves every byte.
        try FileManager.default.moveItem(atPath: dir.file("vault"), toPath: dir.file("vault-gone"))
        let after = try tool("/usr/bin/qemu-img", ["compare", "-f", "raw", "-F", "raw", uri, "expected.img"], in: dir)
        #expect(after.contains("Images are identical"), "\(after)")
        try FileManager.default.moveItem(atPath: dir.file("vault-gone"), toPath: dir.file("vault"))
        kill(second.processIdentifier, SIGTERM)
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)

        // An overlay made over this point is refused over another.
        let other = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "web", "--disk", "expected.img", "--keystore", "keys",
                                                "--kek", "main"], environment: env, directory: dir.path)
        #expect(other.status == 0)
        let refused = try Programs.run("tresor-restore", ["export", "--vault", "vault", "--vm", "web", "--disk", "0", "--socket", dir.file("x.sock"),
                                                          "--overlay", "overlay.img", "--keystore", "keys", "--kek", "main"],
                                       environment: env, directory: dir.path)
        #expect(refused.status != 0 && refused.stderr.contains("error[restore.overlay_invalid]"), "\(refused.stderr)")
    }
}
