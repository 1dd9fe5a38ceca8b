import CTresorSystem
import Foundation
import Glibc
import Synchronization
import TresorCore

/// Freezes mounted file systems (FIFREEZE) for the instant a snapshot takes, and always thaws them
/// (docs/snapshots.md, "Freeze"). Writers block while a file system is frozen, so two watchdogs bound it:
/// a thread that thaws at the deadline, and a detached guard process that thaws a little later even if the
/// agent itself was killed meanwhile. A freeze the watchdog had to end does not count: the snapshot taken
/// under it is not file-system-consistent.
public final class FileSystemFreeze: Sendable {
    public let mounts: [String]
    public let timeoutSeconds: Int
    /// Descriptors of the frozen mounts; emptied by whoever thaws first.
    private let frozen = Mutex<[(mount: String, fd: Int32)]>([])
    private let expired = Atomic<Bool>(false)
    private let thawed = DispatchSemaphore(value: 0)
    /// Seconds the guard process waits beyond the deadline before it thaws on its own.
    static let guardGraceSeconds = 5

    public init(mounts: [String], timeoutSeconds: Int) {
        self.mounts = mounts
        self.timeoutSeconds = timeoutSeconds
    }

    /// Freezes every mount, or none: a mount that cannot be frozen thaws the ones before it and throws.
    public func freeze() throws {
        let guardProcess = try self.startGuard()
        do {
            for mount in self.mounts {
                let fd = try POSIX.open(mount, O_RDONLY | O_DIRECTORY)
                guard tresor_fs_freeze(fd) == 0 else {
                    let reason = String(cString: strerror(errno))
                    close(fd)
                    throw TresorError(.freezeFailed, "cannot freeze \(mount): \(reason)",
                                      action: "check that \(mount) is a mounted file system that is not frozen already, and that the agent runs as root")
                }
                self.frozen.withLock { $0.append((mount, fd)) }
            }
        } catch {
            _ = self.thawAll()
            guardProcess.kill()
            throw error
        }
        Thread.detachNewThread {
            if self.thawed.wait(timeout: .now() + .seconds(self.timeoutSeconds)) == .timedOut {
                if self.thawAll() { self.expired.store(true, ordering: .sequentiallyConsistent) }
            }
            guardProcess.kill()
        }
    }

    /// Thaws what is still frozen. Throws `snapshot.freeze_timeout` when the watchdog thawed first, since
    /// the snapshot may then hold writes made after the freeze ended.
    public func thaw() throws {
        _ = self.thawAll()
        self.thawed.signal()
        if self.expired.load(ordering: .sequentiallyConsistent) {
            throw TresorError(.freezeTimeout, "the file systems \(self.mounts.joined(separator: ", ")) were thawed by the watchdog after \(self.timeoutSeconds) s, before the snapshot was taken",
                              action: "raise freezeTimeoutSeconds or use a faster snapshot method")
        }
    }

    /// Returns whether anything was still frozen.
    private func thawAll() -> Bool {
        let held = self.frozen.withLock { held in
            defer { held.removeAll() }
            return held
        }
        for (_, fd) in held {
            _ = tresor_fs_thaw(fd)
            close(fd)
        }
        return !held.isEmpty
    }

    /// `sh -c 'sleep N; fsfreeze -u MOUNT…'` in a session of its own, so killing the agent (or its process
    /// group) leaves it to thaw. The mounts are arguments, never spliced into the script.
    private func startGuard() throws -> ChildProcess {
        let script = "sleep \(self.timeoutSeconds + Self.guardGraceSeconds); for m in \"$@\"; do fsfreeze --unfreeze \"$m\"; done"
        do {
            return try ChildProcess.start("/bin/sh", ["-c", script, "tresor-thaw-guard"] + self.mounts, outputPath: nil, newSession: true)
        } catch {
            throw TresorError(.freezeFailed, "cannot start the freeze guard: \(error)")
        }
    }
}
