import Synchronization
import TresorCore

/// Random access to one disk of a recovery point, fetching and opening only the chunks a read touches:
/// what file-level restore and the instant-restore export read through. Zero chunks cost nothing; the
/// most recently opened chunks stay in a small cache, since guests and file systems read in small pieces.
public final class RecoveryPointDiskReader: Sendable {
    public let size: Int64
    public let chunkSize: Int
    public let recoveryPointID: String
    private let ids: [ChunkID]
    private let point: OpenedRecoveryPoint
    private let state: Mutex<State>

    private struct State: ~Copyable {
        let opener: ChunkOpener
        var cache: [Int: [UInt8]] = [:]
        var recent: [Int] = []
        var fetched = 0
    }

    /// How many opened chunks stay cached.
    static let cachedChunks = 32

    public init(_ point: OpenedRecoveryPoint, position: Int) throws {
        let disk = try point.disk(position)
        self.ids = try point.index(of: disk)
        self.size = disk.size
        self.chunkSize = point.body.chunkSize
        self.recoveryPointID = point.body.recoveryPointID
        self.point = point
        self.state = Mutex(State(opener: ChunkOpener(maximumChunk: point.body.chunkSize)))
    }

    /// Chunks fetched from the vault so far (a cached or zero chunk is not fetched).
    public var chunksFetched: Int { self.state.withLock { $0.fetched } }

    /// Fills `buffer` with the disk's bytes from `offset`; the range must lie inside the disk.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        guard offset >= 0, offset + Int64(buffer.count) <= self.size else {
            throw TresorError(.invalidArgument, "a read of \(buffer.count) bytes at \(offset) passes the end of the \(self.size)-byte disk")
        }
        var done = 0
        while done < buffer.count {
            let position = offset + Int64(done)
            let index = Int(position / Int64(self.chunkSize))
            let within = Int(position % Int64(self.chunkSize))
            let take = min(buffer.count - done, self.chunkLength(index) - within)
            let destination = UnsafeMutableRawBufferPointer(rebasing: buffer[done..<done + take])
            if self.ids[index].isZero {
                destination.initializeMemory(as: UInt8.self, repeating: 0)
            } else {
                try self.withChunk(index) { chunk in
                    destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: chunk[within..<within + take]))
                }
            }
            done += take
        }
    }

    /// Whether the chunk holding `offset` is all zeros (stored as nothing: a hole).
    public func isZero(chunkAt offset: Int64) -> Bool { self.ids[Int(offset / Int64(self.chunkSize))].isZero }

    /// The range from `offset` (at most `length` bytes) as runs of holes and data, chunk-aligned inside.
    public func allocation(from offset: Int64, length: Int64) -> [(length: Int64, hole: Bool)] {
        var runs: [(length: Int64, hole: Bool)] = []
        let end = min(offset + length, self.size)
        var position = offset
        while position < end {
            let index = Int(position / Int64(self.chunkSize))
            let chunkEnd = min(Int64(index + 1) * Int64(self.chunkSize), end)
            let hole = self.ids[index].isZero
            if let last = runs.last, last.hole == hole {
                runs[runs.count - 1].length += chunkEnd - position
            } else {
                runs.append((chunkEnd - position, hole))
            }
            position = chunkEnd
        }
        return runs
    }

    private func chunkLength(_ index: Int) -> Int {
        Int(min(Int64(self.chunkSize), self.size - Int64(index) * Int64(self.chunkSize)))
    }

    private func withChunk(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try self.state.withLock { state in
            if let cached = state.cache[index] {
                try cached.withUnsafeBytes(body)
                return
            }
            let id = self.ids[index]
            let key = ObjectKey.chunk(domain: self.point.domain, id: id)
            var plain = [UInt8](repeating: 0, count: self.chunkLength(index))
            try plain.withUnsafeMutableBytes { out in
                _ = try state.opener.fetch(id, name: key.path, read: self.point.readChunk, idKey: self.point.idKey,
                                           keyFor: self.point.dataKey, into: out)
            }
            state.fetched += 1
            state.cache[index] = plain
            state.recent.append(index)
            if state.recent.count > Self.cachedChunks { state.cache[state.recent.removeFirst()] = nil }
            try plain.withUnsafeBytes(body)
        }
    }
}
