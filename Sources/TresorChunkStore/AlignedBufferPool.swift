import Synchronization
import TresorCore

/// Page-aligned buffers for direct I/O, reused: fresh memory costs a page fault per page on first touch,
/// which is what direct I/O is there to avoid. Holds at most as many buffers as callers ran at once.
final class AlignedBufferPool: Sendable {
    /// Free buffers as (address, capacity): raw pointers are not Sendable, their bit patterns are.
    private let free = Mutex<[(UInt, Int)]>([])

    deinit {
        for (address, _) in self.free.withLock({ $0 }) {
            UnsafeMutableRawPointer(bitPattern: address)?.deallocate()
        }
    }

    func withBuffer<T>(capacity: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> T) rethrows -> T {
        let reused: (UInt, Int)? = self.free.withLock { free in
            guard let index = free.firstIndex(where: { $0.1 >= capacity }) else { return nil }
            return free.remove(at: index)
        }
        let (address, size): (UInt, Int)
        if let reused {
            (address, size) = reused
        } else {
            // Rounded up to 64 KiB, so a buffer serves chunks of its size whatever their compression.
            let allocated = (capacity + 0xFFFF) & ~0xFFFF
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: allocated, alignment: POSIX.directIOAlignment)
            (address, size) = (UInt(bitPattern: pointer), allocated)
        }
        defer { self.free.withLock { $0.append((address, size)) } }
        let pointer = UnsafeMutableRawPointer(bitPattern: address)!
        return try body(UnsafeMutableRawBufferPointer(start: pointer, count: size))
    }
}
