import Foundation
import TresorCore

/// How long an agent waits before asking a vault that did not answer again: 5 s, then twice as long each
/// time up to a minute, and 5 s again once it has answered.
struct VaultOutage {
    private var lastWait = 0
    static let firstWait = 5
    static let longestWait = 60

    /// Says the vault does not answer and waits before the next try, a second at a time so that a stop
    /// request is not kept waiting.
    mutating func wait(after error: TresorError, shouldStop: () -> Bool, log: (String) -> Void) {
        self.lastWait = self.lastWait == 0 ? Self.firstWait : min(self.lastWait * 2, Self.longestWait)
        log("the vault does not answer (\(error.message)); trying again in \(self.lastWait) s")
        for _ in 0..<self.lastWait where !shouldStop() { Thread.sleep(forTimeInterval: 1) }
    }

    /// Ends an outage; true when there was one to end.
    mutating func end() -> Bool {
        defer { self.lastWait = 0 }
        return self.lastWait > 0
    }
}
