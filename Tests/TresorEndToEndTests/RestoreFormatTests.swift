import Foundation
import Testing
import TresorTestSupport

/// `tresor-restore --format vhd`: fixed VHDs that qemu-img, an independent reader, sizes and compares exactly.
@Suite(.serialized, .enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/qemu-img"), "needs qemu-img (Tools/install-deps.sh)"))
struct RestoreFormatTests {
    let env = ["TRESOR_PASSPHRASE": "end-to-end passphrase"]

    func qemuImg(_ arguments: [String], in dir: TemporaryDirectory) throws -> String {
        try Programs.runSystemCapturing("/usr/bin/qemu-img", arguments, environment: [:], directory: dir.path)
    }

    /// Big-endian field of the footer (the file's last 512 bytes).
    func field(_ footer: Data, _ offset: Int, _ length: Int) -> UInt64 {
        footer[footer.startIndex + offset..<footer.startIndex + offset + length].reduce(0) { $0 << 8 | UInt64($1) }
    }

    @Test func vhdOutputIsTheDiskPlusAFooterThatQemuImgReadsAsTheExactSize() throws {
        let dir = TemporaryDirectory()
        // 34,816,000 bytes is exactly 1000 cylinders × 4 heads × 17 sectors, so the footer states the
        // specification's geometry; 12 MiB is not a whole geometry, so the footer states the maximum
        // geometry and readers take the size from the footer's size field. Both must come out exact.
        try TestImages.write(dir.file("chs.img"), size: 34_816_000, seed: 71)
        try TestImages.write(dir.file("big.img"), size: 12 << 20, seed: 72)
        try TestImages.write(dir.file("odd.img"), size: (3 << 20) + 100, seed: 73)
        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let backup = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "web", "--disk", "chs.img", "--disk", "big.img",
                                                 "--disk", "odd.img", "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
        #expect(backup.status == 0, "\(backup.stderr)")

        let vm = try Programs.run("tresor-restore", ["vm", "--vault", "vault", "--vm", "web", "--output-dir", "out", "--format", "vhd",
                                                     "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
        #expect(vm.status != 0 && vm.stderr.contains("error[usage.invalid_argument]") && vm.stderr.contains("512-byte sectors"),
                "a disk that is not whole sectors cannot be a VHD: \(vm.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out")), "refused before any disk was written")

        for (position, source, size) in [(0, "chs.img", 34_816_000), (1, "big.img", 12 << 20)] {
            let output = "disk\(position).vhd"
            let restore = try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", "web", "--disk", "\(position)", "--format", "vhd",
                                                              "--output", output, "--keystore", "keys", "--kek", "main", "--json"],
                                           environment: env, directory: dir.path)
            #expect(restore.status == 0, "\(restore.stderr)")
            #expect(restore.stdout.contains("\"format\":\"vhd\"") || restore.stdout.contains("\"format\" : \"vhd\""))

            let info = try qemuImg(["info", "-f", "vpc", "--output", "json", output], in: dir)
            let parsed = try JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any]
            #expect(parsed?["virtual-size"] as? Int == size, "qemu-img info: \(info)")
            let compare = try qemuImg(["compare", "-f", "vpc", "-F", "raw", output, source], in: dir)
            #expect(compare.contains("Images are identical"), "\(compare)")

            let file = try Data(contentsOf: URL(fileURLWithPath: dir.file(output)))
            #expect(file.count == size + 512)
            let footer = file.suffix(512)
            #expect(footer.prefix(8) == Data("conectix".utf8))
            #expect(field(footer, 60, 4) == 2, "disk type fixed")
            #expect(field(footer, 48, 8) == UInt64(size), "current size")
            #expect(field(footer, 16, 8) == UInt64.max, "a fixed disk has no header")
            var sum: UInt32 = 0
            for (offset, byte) in footer.enumerated() where !(64..<68).contains(offset) { sum &+= UInt32(byte) }
            #expect(UInt32(field(footer, 64, 4)) == ~sum, "checksum")
            let geometry = (field(footer, 56, 2), field(footer, 58, 1), field(footer, 59, 1))
            if position == 0 {
                #expect(geometry == (1000, 4, 17), "the specification's geometry when it is exact")
            } else {
                #expect(geometry == (65535, 16, 255), "the maximum geometry otherwise")
            }
        }
        let raw = try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", "web", "--disk", "2", "--output", "odd.raw",
                                                      "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
        #expect(raw.status == 0 && TestImages.equal(dir.file("odd.raw"), dir.file("odd.img")), "raw takes any size")
    }
}
