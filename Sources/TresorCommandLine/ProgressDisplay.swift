#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Synchronization
public import TresorEngine

/// Shows bytes done, rate and time left on standard error while work runs, if standard error is a
/// terminal; silent when piped or with --json.
public final class ProgressDisplay: Sendable {
    private let counter: ProgressCounter
    private let label: String
    private let enabled: Bool
    private let finished = Mutex(false)

    public init(counter: ProgressCounter, label: String, quiet: Bool) {
        self.counter = counter
        self.label = label
        self.enabled = !quiet && SystemInfo.isTerminal(2)
    }

    /// Runs `body` with the display ticking beside it.
    public func during<T>(_ body: () throws -> T) rethrows -> T {
        guard self.enabled else { return try body() }
        let started = Date()
        let stopped = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            while !self.finished.withLock({ $0 }) {
                self.render(elapsed: Date().timeIntervalSince(started))
                usleep(100_000)
            }
            stopped.signal()
        }
        thread.start()
        defer {
            self.finished.withLock { $0 = true }
            stopped.wait()  // no tick may land after the last line

            // The final state once, so even a short run shows what it did, then a clean line.
            self.render(elapsed: Date().timeIntervalSince(started))
            FileHandleOutput.standardError("\r\u{1b}[K")
        }
        return try body()
    }

    private func render(elapsed: Double) {
        let done = Double(self.counter.bytesDone)
        let total = Double(self.counter.bytesTotal)
        guard total > 0 else { return }
        let rate = elapsed > 0 ? done / elapsed : 0
        let left = rate > 0 ? (total - done) / rate : 0
        let line = String(format: "\r\u{1b}[K%@ %@ / %@  %.0f MB/s  %@ left", self.label, Self.size(done), Self.size(total),
                          rate / 1e6, Self.duration(left))
        FileHandleOutput.standardError(line)
    }

    static func size(_ bytes: Double) -> String {
        bytes >= Double(1 << 30) ? String(format: "%.2f GiB", bytes / Double(1 << 30)) : String(format: "%.1f MiB", bytes / Double(1 << 20))
    }

    static func duration(_ seconds: Double) -> String {
        seconds >= 60 ? String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60) : String(format: "%.0fs", seconds)
    }
}
