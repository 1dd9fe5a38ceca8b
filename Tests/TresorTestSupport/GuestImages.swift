import Foundation

/// Guest disks made by Debian's own tools, as file-level restore meets them: a tree of files put into ext4
/// by `mkfs.ext4 -d`, placed in a partition that `sfdisk` made (GPT, or MBR with a logical partition).
public enum GuestImages {
    static func tool(_ name: String) -> String {
        for folder in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
            return "\(folder)/\(name)"
        }
        return name
    }

    public static var available: Bool {
        ["mkfs.ext4", "sfdisk"].allSatisfy { FileManager.default.isExecutableFile(atPath: tool($0)) }
    }

    /// A small tree with what extraction must get right: permissions and owners, an old mtime, relative and
    /// absolute symlinks, a sparse file with data past its hole, a file of ten pieces between holes, a 5 GiB
    /// sparse file, a multi-megabyte random file, a 40-deep path, a setuid file and a fifo.
    public static func makeTree(_ root: String) throws {
        let fm = FileManager.default
        for folder in ["etc", "home/alice"] { try fm.createDirectory(atPath: "\(root)/\(folder)", withIntermediateDirectories: true) }
        try "127.0.0.1 localhost\n".write(toFile: "\(root)/etc/hosts", atomically: false, encoding: .utf8)
        chmod("\(root)/etc/hosts", 0o640)
        chown("\(root)/etc/hosts", 1000, 1001)
        var times = [timespec(tv_sec: 1_577_934_245, tv_nsec: 0), timespec(tv_sec: 1_577_934_245, tv_nsec: 0)]
        utimensat(AT_FDCWD, "\(root)/etc/hosts", &times, 0)
        symlink("../etc/hosts", "\(root)/home/alice/link")
        symlink("/etc/shadow", "\(root)/home/alice/abs")
        let sparse = open("\(root)/home/alice/sparse.bin", O_WRONLY | O_CREAT, 0o644)
        ftruncate(sparse, 50 << 20)
        _ = "tail".withCString { pwrite(sparse, $0, 4, 40_000_000) }
        close(sparse)
        // More pieces than an inode holds extents (4), so the file system needs an extent tree below the inode;
        // and a file past 4 GiB, whose size needs the inode's high size word.
        let fragmented = open("\(root)/home/alice/fragmented.bin", O_WRONLY | O_CREAT, 0o644)
        for piece in 0..<10 {
            let bytes = [UInt8](repeating: UInt8(piece + 1), count: 4096)
            _ = bytes.withUnsafeBytes { pwrite(fragmented, $0.baseAddress, 4096, off_t(piece) << 20) }
        }
        close(fragmented)
        let huge = open("\(root)/home/alice/huge.bin", O_WRONLY | O_CREAT, 0o644)
        ftruncate(huge, 5 << 30)
        _ = "far".withCString { pwrite(huge, $0, 3, 4_500_000_000) }
        close(huge)
        var generator = SystemRandomNumberGenerator()
        try Data((0..<3_000_000).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: "\(root)/home/alice/big.bin"))
        let deep = (1...40).map { "d\($0)" }.joined(separator: "/")
        try fm.createDirectory(atPath: "\(root)/deep/\(deep)", withIntermediateDirectories: true)
        try "deep\n".write(toFile: "\(root)/deep/\(deep)/leaf.txt", atomically: false, encoding: .utf8)
        try "#!/bin/sh\n".write(toFile: "\(root)/home/suid", atomically: false, encoding: .utf8)
        chmod("\(root)/home/suid", 0o4755)
        mkfifo("\(root)/home/fifo", 0o644)
    }

    static func run(_ tool: String, _ arguments: [String], input: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: self.tool(tool))
        process.arguments = arguments
        let pipe = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        if let input {
            pipe.fileHandleForWriting.write(Data(input.utf8))
            try pipe.fileHandleForWriting.close()
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw LoopMountError("\(tool) \(arguments.joined(separator: " ")) failed") }
    }

    /// An ext4 file system image holding `tree`.
    public static func ext4(from tree: String, to image: String, sizeMiB: Int) throws {
        _ = FileManager.default.createFile(atPath: image, contents: nil)
        truncate(image, off_t(sizeMiB) << 20)
        try run("mkfs.ext4", ["-q", "-F", "-d", tree, image])
    }

    /// A 40 MiB disk: GPT with a 4 MiB "esp" partition (1) and the file system in partition 2 ("root", at
    /// 5 MiB); or MBR with a primary (1), an extended (2) and the file system in logical partition 5.
    public static func disk(_ path: String, fileSystem: String, gpt: Bool) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        truncate(path, 40 << 20)
        let table = gpt
            ? "label: gpt\nstart=2048, size=4MiB, type=uefi, name=\"esp\"\nstart=10240, size=34MiB, type=linux, name=\"root\"\n"
            : "label: dos\nstart=2048, size=4MiB, type=83\nstart=10240, size=34MiB, type=5\nstart=12288, size=30MiB, type=83\n"
        try run("sfdisk", ["-q", path], input: table)
        let offset = gpt ? 10240 * 512 : 12288 * 512
        let fs = try Data(contentsOf: URL(fileURLWithPath: fileSystem))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: fs)
        try handle.close()
    }

    /// A FAT file system made by mkfs.vfat (`bits` 12, 16 or 32) holding `files` (guest path → local file),
    /// copied in by mtools' mcopy, which writes long names where 8.3 does not fit.
    public static func fat(_ image: String, sizeMiB: Int, bits: Int, files: [(String, String)]) throws {
        _ = FileManager.default.createFile(atPath: image, contents: nil)
        truncate(image, off_t(sizeMiB) << 20)
        try run("mkfs.vfat", ["-F", "\(bits)"] + (bits == 32 ? ["-s", "1"] : []) + ["-n", "TRESOR", image])
        for (guest, local) in files {
            let parent = (guest as NSString).deletingLastPathComponent
            if parent != "/" { _ = try? run("mmd", ["-D", "s", "-i", image, "::" + parent]) }
            try run("mcopy", ["-i", image, local, "::" + guest])
        }
    }
}
