#if canImport(Glibc)
import Glibc
#endif

/// CPU seconds a backup's workers spent in each pipeline stage (thread CPU time, so a stage waiting for
/// the disk costs nothing here but shows in wall time). Reported with every backup result.
public struct StageTimes: Codable, Sendable, Equatable {
    public var read = 0.0
    public var zeroCheck = 0.0
    public var chunkID = 0.0
    /// Tagging chunks for the change cache and comparing with its tags.
    public var changeTag = 0.0
    public var lookup = 0.0
    /// Fetching and opening the bases of delta chunks, and diffing against them.
    public var delta = 0.0
    public var compress = 0.0
    public var encrypt = 0.0
    public var store = 0.0

    public init() {}

    static func += (a: inout StageTimes, b: StageTimes) {
        a.read += b.read
        a.zeroCheck += b.zeroCheck
        a.chunkID += b.chunkID
        a.changeTag += b.changeTag
        a.lookup += b.lookup
        a.delta += b.delta
        a.compress += b.compress
        a.encrypt += b.encrypt
        a.store += b.store
    }
}

/// Measures the calling thread's CPU time between laps.
struct ThreadCPUClock {
    private var last: Double

    init() { self.last = Self.now() }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Seconds since the previous lap.
    mutating func lap() -> Double {
        let now = Self.now()
        defer { self.last = now }
        return now - self.last
    }
}
