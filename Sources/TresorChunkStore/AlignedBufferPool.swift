import Synchronization
import TresorCore

/// Page-aligned buffers for direct I/O, reused: fresh memory costs a page fault per page on first touch,
/// which is what direct I/O is there to avoid. Holds at most as many buffers as callers ran at once.
/// The vault server receives uploads straight into such buffers, so the store writes them without a copy.
public final class AlignedBufferPool: Sendable {
    /// Free buffers as (address, capacity): raw pointers are not Sendable, their bit patterns are.
    private let free = Mutex<[(UInt, Int)]>([])

    public init() {}

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
        let reused: (UInt, Int)? = self.free.withLock { free in
            guard let index = free.firstIndex(where: { $0.1 >= capacity }) else { return nil }
            return free.remove(at: index)
        }
        if let reused { return reused }
        // Rounded up to 64 KiB, so a buffer serves chunks of its size whatever their compression.
        let allocated = (capacity + 0xFFFF) & ~0xFFFF
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: allocated, alignment: POSIX.directIOAlignment)
        return (UInt(bitPattern: pointer), allocated)
    }

    private func give(_ address: UInt, _ size: Int) {
        self.free.withLock { $0.append((address, size)) }
    }
}
