import CTresorSystem
import Glibc
import TresorCore

/// Reflink copies (FICLONE): a new file sharing every extent of its source, made in milliseconds whatever
/// the size, and diverging block by block as either side is written. XFS (with reflink=1, mkfs.xfs's
/// default) and btrfs can; ext4 cannot.
public enum Reflink {
    /// Clones `source` to a new file `destination` (mode 0600: it holds a VM's disk) and makes it durable.
    public static func clone(_ source: String, to destination: String) throws {
        let input = try POSIX.open(source, O_RDONLY)
        defer { close(input) }
        let output = try POSIX.open(destination, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        var finished = false
        defer {
            close(output)
            if !finished { unlink(destination) }
        }
        if tresor_reflink_clone(output, input) != 0 {
            let code = errno
            let reason = String(cString: strerror(code))
            switch code {
            case EXDEV:
                throw TresorError(.snapshotFailed, "cannot reflink \(source) into \(destination): they are on different file systems",
                                  action: "put the agent's snapshotDirectory on the file system that holds the disk")
            case EOPNOTSUPP, EINVAL, ENOTTY:
                throw TresorError(.snapshotFailed, "the file system of \(source) cannot make reflink copies (\(reason))",
                                  action: "keep the disk on XFS or btrfs, or use the qmp snapshot method")
            default:
                throw POSIX.error("reflink", destination, errno: code)
            }
        }
        guard fsync(output) == 0 else { throw POSIX.error("fsync", destination) }
        finished = true
    }
}
