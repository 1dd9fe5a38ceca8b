import Foundation
import Testing
import TresorTestSupport

/// The proof of instant restore: a Linux kernel from Debian's package boots with its root file system on a
/// recovery point served by `tresor-restore export --overlay`, reads a known file, and writes to the overlay.
/// QEMU runs under TCG: on this machine kind, KVM (nested) stalls in the kernel's early boot, while TCG boots
/// this small system in seconds.
@Suite(.serialized, .enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/qemu-system-x86_64")
                                 && FileManager.default.fileExists(atPath: "/usr/bin/nbdcopy"), "needs QEMU and libnbd-bin (Tools/install-deps.sh)"))
struct BootFromExportTests {
    let env = ["TRESOR_PASSPHRASE": "end-to-end passphrase"]

    /// The repository: the folder above the build that holds Package.swift.
    var repository: String {
        var url = URL(fileURLWithPath: Programs.binDirectory)
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path), url.path != "/" {
            url = url.deletingLastPathComponent()
        }
        return url.path
    }

    func system(_ path: String, _ arguments: [String], in dir: TemporaryDirectory) throws -> String {
        try Programs.runSystemCapturing(path, arguments, environment: [:], directory: dir.path)
    }

    @Test func aKernelBootsFromARecoveryPointServedOverNBDAndWritesToItsOverlay() throws {
        let dir = TemporaryDirectory()
        let kit = try system("/bin/bash", [repository + "/Tools/boot-kit.sh", repository + "/.build/boot-kit"], in: dir)
            .split(separator: "\n").last.map(String.init) ?? ""
        #expect(FileManager.default.fileExists(atPath: kit + "/vmlinuz"), "Tools/boot-kit.sh: \(kit)")

        // The VM's disk: an ext4 file system made by Debian's mkfs.ext4 -d, holding busybox, an init that
        // checks a known file and writes one, and the known file.
        let rootfs = dir.file("rootfs")
        for folder in ["bin", "dev", "proc"] { try FileManager.default.createDirectory(atPath: rootfs + "/" + folder, withIntermediateDirectories: true) }
        try FileManager.default.copyItem(atPath: kit + "/busybox", toPath: rootfs + "/bin/busybox")
        var generator = SystemRandomNumberGenerator()
        try Data((0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: rootfs + "/known.bin"))
        let sum = try system("/usr/bin/sha256sum", [rootfs + "/known.bin"], in: dir).split(separator: " ").first.map(String.init) ?? "?"
        try """
            #!/bin/busybox sh
            echo "TRESOR-CHECK $(/bin/busybox sha256sum /known.bin)"
            echo "written by the restored VM" > /written.txt
            /bin/busybox sync
            /bin/busybox mount -o remount,ro /
            echo "TRESOR-DONE"
            /bin/busybox poweroff -f

            """.write(toFile: rootfs + "/init", atomically: true, encoding: .utf8)
        chmod(rootfs + "/init", 0o755)
        let mkfs = FileManager.default.fileExists(atPath: "/usr/sbin/mkfs.ext4") ? "/usr/sbin/mkfs.ext4" : "/sbin/mkfs.ext4"
        _ = try system(mkfs, ["-q", "-d", rootfs, dir.file("root.img"), "32M"], in: dir)

        _ = try Programs.run("tresor-vault", ["init", "vault"], directory: dir.path)
        _ = try Programs.run("tresor", ["keys", "create", "main", "--keystore", "keys"], environment: env, directory: dir.path)
        let backup = try Programs.run("tresor", ["backup", "--vault", "vault", "--vm", "booted", "--disk", "root.img", "--keystore", "keys",
                                                 "--kek", "main"], environment: env, directory: dir.path)
        #expect(backup.status == 0, "\(backup.stderr)")

        let socket = dir.file("root.sock")
        let (export, _, _) = try Programs.start("tresor-restore", ["export", "--vault", "vault", "--vm", "booted", "--disk", "0", "--socket", socket,
                                                                   "--overlay", "overlay.img", "--keystore", "keys", "--kek", "main"],
                                                environment: env, directory: dir.path)
        defer { if export.isRunning { kill(export.processIdentifier, SIGKILL) } }
        let started = Date().addingTimeInterval(20)
        while Date() < started, !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }

        let uri = "nbd+unix:///tresor?socket=\(socket)"
        let qemu = Process()
        qemu.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-system-x86_64")
        qemu.arguments = ["-accel", "tcg", "-m", "256", "-display", "none", "-nodefaults", "-no-reboot",
                          "-serial", "file:" + dir.file("console.log"),
                          "-kernel", kit + "/vmlinuz", "-initrd", kit + "/initrd.gz", "-append", "console=ttyS0 panic=-1 quiet",
                          "-drive", "file=\(uri),format=raw,if=virtio"]
        qemu.standardInput = FileHandle.nullDevice
        qemu.standardOutput = FileHandle.nullDevice
        qemu.standardError = FileHandle.nullDevice
        try qemu.run()
        let deadline = Date().addingTimeInterval(240)
        while qemu.isRunning, Date() < deadline { usleep(100_000) }
        if qemu.isRunning { kill(qemu.processIdentifier, SIGKILL) }
        qemu.waitUntilExit()
        let console = (try? String(contentsOfFile: dir.file("console.log"), encoding: .utf8)) ?? ""
        #expect(console.contains("TRESOR-CHECK \(sum)"), "the VM read the known file from the recovery point: \(console.suffix(2000))")
        #expect(console.contains("TRESOR-DONE"), "the VM wrote, synced and powered off")

        // The VM's write is in the overlay, read back through the export by Debian's tools.
        _ = try system("/usr/bin/nbdcopy", [uri, dir.file("after.img")], in: dir)
        let debugfs = FileManager.default.fileExists(atPath: "/usr/sbin/debugfs") ? "/usr/sbin/debugfs" : "/sbin/debugfs"
        let written = try system(debugfs, ["-R", "cat /written.txt", dir.file("after.img")], in: dir)
        #expect(written.contains("written by the restored VM"), "\(written)")
        // …and not in the vault: the recovery point restores as it was backed up.
        let restored = try Programs.run("tresor-restore", ["disk", "--vault", "vault", "--vm", "booted", "--disk", "0", "--output", "restored.img",
                                                           "--keystore", "keys", "--kek", "main"], environment: env, directory: dir.path)
        #expect(restored.status == 0 && TestImages.equal(dir.file("restored.img"), dir.file("root.img")))
        kill(export.processIdentifier, SIGTERM)
        export.waitUntilExit()
    }
}
