import Foundation
import Testing
import TresorTestSupport

/// Block devices as sources and as restore targets, through loop devices (root only).
@Suite(.serialized, .enabled(if: getuid() == 0 && FileManager.default.fileExists(atPath: "/dev/loop-control"), "needs root and loop devices"))
struct BlockDeviceTests {
    let env = ["TRESOR_PASSPHRASE": "end-to-end passphrase"]

    func attach(_ file: String) throws -> String {
        let (process, out, _) = try Programs.startSystem("/sbin/losetup", ["-f", "--show", file])
        process.waitUntilExit()
        let device = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(process.terminationStatus == 0 && device.hasPrefix("/dev/loop"))
        return device
    }

    @Test func backUpABlockDeviceAndRestoreOverAnotherWithItsZeroRangesZeroed() throws {
        let dir = TemporaryDirectory()
        // The source: a 12 MiB device holding an image with zero chunks.
        try TestImages.write(dir.file("source.img"), size: 12 << 20, seed: 31)
        let source = try self.attach(dir.file("source.img"))
        defer { _ = try? Programs.runSystem("/sbin/losetup", ["-d", source]) }
        // The target: a 16 MiB device full of 0xff, which must not survive where the disk is zero.
        try Data([UInt8](repeating: 0xff, count: 16 << 20)).write(to: URL(fileURLWithPath: dir.file("target.img")))
        let target = try self.attach(dir.file("target.img"))
        defer { _ = try? Programs.runSystem("/sbin/losetup", ["-d", target]) }

        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let backup = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "dev", "--disk", source, "--keystore", "keys",
                                                 "--kek", "main", "--json"], environment: env, directory: dir.path)
        #expect(backup.status == 0, "\(backup.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(backup.stdout.utf8)) as! [String: Any]
        #expect(result["bytesRead"] as? Int == 12 << 20)
        #expect((result["chunksZero"] as? Int ?? 0) > 0, "the test image has zero chunks")

        let arguments = ["disk", "--vault", "vault", "--vm", "dev", "--disk", "0", "--output", target, "--keystore", "keys", "--kek", "main"]
        let refused = try Programs.run("tresor-restore", arguments, environment: env, directory: dir.path)
        #expect(refused.status == 1 && refused.stderr.contains("restore.target_exists"))
        let restored = try Programs.run("tresor-restore", arguments + ["--force"], environment: env, directory: dir.path)
        #expect(restored.status == 0, "\(restored.stderr)")
        let device = try FileHandle(forReadingFrom: URL(fileURLWithPath: target))
        let written = try device.read(upToCount: 12 << 20)
        let beyond = try device.read(upToCount: 4 << 20)
        try device.close()
        #expect(written == (try Data(contentsOf: URL(fileURLWithPath: dir.file("source.img")))))
        #expect(beyond == Data(repeating: 0xff, count: 4 << 20), "bytes past the disk's size are left alone")
    }
}
