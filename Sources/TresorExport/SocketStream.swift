import Glibc
import TresorCore

/// Blocking reads and writes of whole messages on a connected socket. Writes never raise SIGPIPE: a
/// client that went away is an error on this connection, not the end of the export.
struct SocketStream: ~Copyable {
    let descriptor: Int32

    struct Closed: Error {}

    init(descriptor: Int32) { self.descriptor = descriptor }

    deinit { close(self.descriptor) }

    func read(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try self.read(into: $0) }
        return bytes
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = recv(self.descriptor, buffer.baseAddress! + done, buffer.count - done, 0)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Closed() }
            done += n
        }
    }

    /// Reads and drops `count` bytes (the payload of a refused write).
    func skip(_ count: Int) throws {
        var left = count
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: min(max(count, 1), 1 << 20), alignment: 8)
        defer { scratch.deallocate() }
        while left > 0 {
            let take = min(left, scratch.count)
            try self.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<take]))
            left -= take
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try self.write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = send(self.descriptor, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Closed() }
            done += n
        }
    }
}
