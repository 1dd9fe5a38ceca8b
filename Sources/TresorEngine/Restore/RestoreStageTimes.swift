/// CPU seconds a restore's workers spent in each stage (thread CPU time, like a backup's StageTimes): a
/// stage waiting for the vault or the disk costs nothing here but shows in wall time. Decompression is
/// the stage that shows how the machine treats the restore: the same chunks took 0.4 CPU s in one served
/// restore and 0.9 in the next (docs/server.md, "Figures").
public struct RestoreStageTimes: Codable, Sendable, Equatable {
    /// Asking the vault for objects and receiving them (a served vault), or reading them (a directory).
    public var fetch = 0.0
    /// Authenticating and decrypting objects (AES-GCM).
    public var decrypt = 0.0
    public var decompress = 0.0
    /// Rebuilding delta chunks over their bases.
    public var delta = 0.0
    /// Recomputing each restored chunk's keyed ID.
    public var chunkID = 0.0
    /// Finding zero blocks and writing to the target.
    public var write = 0.0

    public init() {}

    static func += (a: inout RestoreStageTimes, b: RestoreStageTimes) {
        a.fetch += b.fetch
        a.decrypt += b.decrypt
        a.decompress += b.decompress
        a.delta += b.delta
        a.chunkID += b.chunkID
        a.write += b.write
    }
}
