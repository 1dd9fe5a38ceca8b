import CTresorSystem
import Foundation
import Glibc
import TresorCore

/// A program the agent starts and waits for with a deadline: consistency scripts and the freeze guard.
/// Spawned directly (not through Foundation's Process) so the agent alone reaps it, and in a process group
/// of its own so a timeout kills the script's children too.
struct ChildProcess {
    let pid: pid_t
    let outputPath: String?

    /// Starts `path` with `arguments`; its output goes to `outputPath` (or /dev/null). `newSession` puts it
    /// in a session of its own, out of reach of signals sent to the agent's process group.
    static func start(_ path: String, _ arguments: [String], outputPath: String?, newSession: Bool) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let output = outputPath ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Signals the agent blocks (the test runner blocks SIGTERM) must not stay blocked in the child.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK)
        if newSession {
            flags |= Int32(tresor_posix_spawn_setsid_flag())
        } else {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard result == 0 else { throw POSIX.error("start", path, errno: result) }
        return ChildProcess(pid: pid, outputPath: outputPath)
    }

    /// The exit status (128 + signal for a killed child), or nil when `seconds` passed first; the child's
    /// whole process group is then killed and reaped.
    func wait(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while true {
            let reaped = waitpid(self.pid, &status, WNOHANG)
            if reaped == self.pid { return Self.exitCode(status) }
            if reaped < 0 && errno != EINTR { return -1 }
            if Date() >= deadline {
                self.kill()
                return nil
            }
            usleep(20_000)
        }
    }

    /// Kills the child's process group and reaps the child.
    func kill() {
        Glibc.kill(-self.pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(self.pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// The last non-empty line the child wrote, for error messages.
    func lastOutputLine() -> String? {
        guard let path = self.outputPath, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return text.split(whereSeparator: \.isNewline).last.map { String($0.prefix(200)) }
    }

    private static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
