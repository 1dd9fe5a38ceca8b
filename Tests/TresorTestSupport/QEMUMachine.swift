import Foundation

/// A QEMU VM for one test: KVM where /dev/kvm exists (TCG otherwise), no display, no bootable disk (the
/// firmware waits, the VM runs), each raw disk as a virtio device with the drive ID drive0, drive1 …, and
/// a QMP socket. Killed when released.
public final class QEMUMachine: Sendable {
    public let qmpSocket: String
    public let pid: Int32

    public init(disks: [String], in directory: TemporaryDirectory) throws {
        self.qmpSocket = directory.file("qmp.sock")
        let accelerator = FileManager.default.fileExists(atPath: "/dev/kvm") ? "kvm" : "tcg"
        // In the foreground: a daemonizing QEMU keeps descriptors Foundation watches, and its start never ends.
        var arguments = ["-accel", accelerator, "-m", "64", "-display", "none", "-nodefaults",
                         "-qmp", "unix:\(self.qmpSocket),server=on,wait=off"]
        for (index, disk) in disks.enumerated() {
            arguments += ["-drive", "file=\(disk),format=raw,if=none,id=drive\(index)", "-device", "virtio-blk-pci,drive=drive\(index)"]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-system-x86_64")
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.pid = process.processIdentifier
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: self.qmpSocket) && process.isRunning { usleep(20_000) }
        guard process.isRunning, FileManager.default.fileExists(atPath: self.qmpSocket) else {
            throw LoopMountError("qemu-system-x86_64 did not start (status \(process.isRunning ? 0 : process.terminationStatus))")
        }
    }

    /// Stops QEMU at once, as a host crash or `kill -9` would, and waits until its socket is dead.
    public func kill() {
        _ = Foundation.kill(self.pid, SIGKILL)
        for _ in 0..<250 where Foundation.kill(self.pid, 0) == 0 && !Self.isZombie(self.pid) { usleep(20_000) }
    }

    private static func isZombie(_ pid: Int32) -> Bool {
        ((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? "").contains(") Z ")
    }

    deinit { self.kill() }
}
