/// How long an agent waits before asking a vault that did not answer again: 5 s, then twice as long each
/// time up to a minute, and 5 s again once it has answered.
struct VaultOutage {
    private var lastWait = 0
    static let firstWait = 5
    static let longestWait = 60

    /// The seconds to wait now.
    mutating func nextWait() -> Int {
        self.lastWait = self.lastWait == 0 ? Self.firstWait : min(self.lastWait * 2, Self.longestWait)
        return self.lastWait
    }

    /// Ends an outage; true when there was one to end.
    mutating func end() -> Bool {
        defer { self.lastWait = 0 }
        return self.lastWait > 0
    }
}
