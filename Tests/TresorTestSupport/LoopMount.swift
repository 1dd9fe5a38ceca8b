import Foundation

/// A file system made in an image file and mounted through a loop device for one test (root only, as
/// CI runs): XFS for reflink copies, ext4 for freezing. Unmounted and removed afterwards.
public final class LoopMount: Sendable {
    public enum Kind: String, Sendable {
        case xfs
        case ext4
    }

    public let directory = TemporaryDirectory()
    public let mountPoint: String
    public let image: String

    /// `image` places the file system's image file elsewhere (inside another test mount, say).
    public init(_ kind: Kind, sizeMiB: Int = 320, image: String? = nil) throws {
        self.image = image ?? self.directory.file("\(kind.rawValue).img")
        self.mountPoint = self.directory.file("mnt")
        try FileManager.default.createDirectory(atPath: self.mountPoint, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: self.image) {
            _ = FileManager.default.createFile(atPath: self.image, contents: nil)
        }
        guard truncate(self.image, off_t(sizeMiB) << 20) == 0 else {
            throw LoopMountError("cannot make \(self.image)")
        }
        let made = kind == .xfs ? try Programs.runSystem("/usr/sbin/mkfs.xfs", ["-q", "-f", self.image])
                                : try Programs.runSystem("/usr/sbin/mkfs.ext4", ["-q", "-F", self.image])
        guard made == 0 else { throw LoopMountError("mkfs.\(kind.rawValue) failed (\(made))") }
        guard try Programs.runSystem("/usr/bin/mount", ["-o", "loop", self.image, self.mountPoint]) == 0 else {
            throw LoopMountError("cannot loop-mount \(self.image) (tests of snapshots need root)")
        }
    }

    public func file(_ name: String) -> String { self.mountPoint + "/" + name }

    deinit {
        // A frozen file system cannot be unmounted: thaw first (harmless when not frozen).
        _ = try? Programs.runSystemCapturing("/usr/sbin/fsfreeze", ["--unfreeze", self.mountPoint], environment: [:], directory: "/")
        if (try? Programs.runSystem("/usr/bin/umount", [self.mountPoint])) != 0 {
            _ = try? Programs.runSystem("/usr/bin/umount", ["-l", self.mountPoint])
        }
    }
}

public struct LoopMountError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
