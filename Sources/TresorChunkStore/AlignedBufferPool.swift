import Synchronization
import TresorCore

/// Page-aligned buffers for direct I/O, reused: fresh memory costs a page fault per page on first touch,
/// which is what direct I/O is there to avoid. Holds at most as many buffers as callers ran at once.
/// The vault server receives uploads straight into such buffers, so the store writes them without a copy.
///
/// Every pooled buffer has the same size, so any free buffer serves any request and the pool never holds
/// more buffers than callers ran at once, whatever the mix of sizes asked for (a pool of mixed sizes grows
/// a buffer of each size per concurrent caller). Only the pages a caller writes count in memory. A request
/// larger than the pool's size gets a buffer of its own, freed after use.
public final class AlignedBufferPool: Sendable {
    /// Free buffers as (address, capacity): raw pointers are not Sendable, their bit patterns are.
    private let free = Mutex<[(UInt, Int)]>([])
    public let bufferSize: Int

    public init(bufferSize: Int) {
        self.bufferSize = (bufferSize + 0xFFFF) & ~0xFFFF
    }

    deinit {
        for (address, _) in self.free.withLock({ $0 }) {
            UnsafeMutableRawPointer(bitPattern: address)?.deallocate()
        }
    }

    public func withBuffer<T>(capacity: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> T) rethrows -> T {
        let (address, size) = self.take(capacity: capacity)
        defer { self.give(address, size) }
        return try body(UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: address)!, count: size))
    }

    /// The same for a caller that awaits while it holds the buffer (an upload arriving in parts).
    public func withBuffer<T>(capacity: Int, _ body: (UnsafeMutableRawBufferPointer) async throws -> T) async rethrows -> T {
        let (address, size) = self.take(capacity: capacity)
        defer { self.give(address, size) }
        return try await body(UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: address)!, count: size))
    }

    private func take(capacity: Int) -> (UInt, Int) {
        if capacity <= self.bufferSize, let reused = self.free.withLock({ $0.popLast() }) { return reused }
        let allocated = max(capacity, self.bufferSize)
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: allocated, alignment: POSIX.directIOAlignment)
        return (UInt(bitPattern: pointer), allocated)
    }

    private func give(_ address: UInt, _ size: Int) {
        guard size == self.bufferSize else {
            UnsafeMutableRawPointer(bitPattern: address)?.deallocate()
            return
        }
        self.free.withLock { $0.append((address, size)) }
    }
}
