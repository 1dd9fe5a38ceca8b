import CTresorSystem
import Glibc
import TresorCore

/// Which byte ranges of a disk are certainly unchanged between two reflink copies of it, read from the
/// file system's extent maps (FIEMAP) instead of the data (docs/snapshots.md, "Change detection").
///
/// Why equal places mean equal bytes: the older copy holds a reference to every block it maps, so none of
/// them can be freed and reused while it exists; a write to the disk after that copy was made goes to a
/// new block (copy-on-write), which the newer copy then maps. So where both copies map the same logical
/// offset to the same physical block, nothing was written in between. Any doubt (an extent whose place is
/// not settled, a hole, a file system without FIEMAP) counts as changed, and the data is read.
public enum ChangedBlocks {
    struct Extent: Equatable {
        var logical: Int64
        var physical: Int64
        var length: Int64
    }

    /// Byte ranges, sorted and disjoint, where `older` and `newer` share their blocks; empty when the
    /// file system cannot say.
    public static func unchangedRanges(older: String, newer: String) throws -> [Range<Int64>] {
        let first = try self.extents(of: older)
        let second = try self.extents(of: newer)
        return self.shared(first, second)
    }

    /// The intersection of two extent lists where both map an offset to the same block.
    static func shared(_ first: [Extent], _ second: [Extent]) -> [Range<Int64>] {
        var ranges = [Range<Int64>]()
        var i = 0, j = 0
        while i < first.count, j < second.count {
            let a = first[i], b = second[j]
            let start = max(a.logical, b.logical)
            let end = min(a.logical + a.length, b.logical + b.length)
            if start < end, a.physical - a.logical == b.physical - b.logical {
                if let last = ranges.last, last.upperBound == start {
                    ranges[ranges.count - 1] = last.lowerBound..<end
                } else {
                    ranges.append(start..<end)
                }
            }
            if a.logical + a.length <= b.logical + b.length { i += 1 } else { j += 1 }
        }
        return ranges
    }

    /// The file's settled extents, in logical order.
    static func extents(of path: String) throws -> [Extent] {
        let fd = try POSIX.open(path, O_RDONLY)
        defer { close(fd) }
        let unsettled = tresor_extent_flags_unsettled()
        var found = [Extent]()
        var buffer = [tresor_extent](repeating: tresor_extent(), count: 512)
        var start: UInt64 = 0
        while true {
            let count = buffer.withUnsafeMutableBufferPointer { tresor_file_extents(fd, start, $0.baseAddress, UInt32($0.count)) }
            if count < 0 {
                if errno == EOPNOTSUPP || errno == ENOTTY { return [] }
                throw POSIX.error("read the extent map of", path)
            }
            guard count > 0 else { return found }
            for extent in buffer[0..<Int(count)] where extent.flags & unsettled == 0 {
                found.append(Extent(logical: Int64(extent.logical), physical: Int64(extent.physical), length: Int64(extent.length)))
            }
            let last = buffer[Int(count) - 1]
            if last.flags & tresor_extent_flag_last() != 0 { return found }
            start = last.logical + last.length
        }
    }
}
