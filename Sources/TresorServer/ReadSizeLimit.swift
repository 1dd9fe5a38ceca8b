import NIOCore

/// Caps how many bytes one socket read takes on a connection. A connection whose request waits for an
/// upload slot keeps what was read until then in its body stream (two reads, `BoundedHTTP1Channel`), so
/// the cap, not the number of clients, bounds that memory.
///
/// An upload that holds a slot reads in larger pieces, `uploadReadsPerWakeUp` reads of `uploadBytes` each
/// time its socket is readable, until its body is in. The request's task is woken once per wake-up with all
/// of them (the async channel hands over a wake-up's reads together). At one read per wake-up, a 2 MiB
/// batch cost 128 wake-ups and thread switches between the event loop and the task: about a fifth of the
/// server's time in a served backup (docs/server.md, Figures, 2026-11-23). Each read is a system call that
/// also acknowledges what it took; at 16 KiB they were a fifth of the server's CPU in an initial backup,
/// and 32 KiB reads take about a tenth of it off (docs/server.md, Figures, fifth session). NIO keeps a
/// connection's receive buffer at the largest size it grew to, so an upload leaves its connection holding
/// one buffer of `uploadBytes`: at the server's connection limit, at most 1 MiB in all. Receive buffers are
/// already most of the server's growth from 2 to 20 clients, so 64 KiB reads, a little cheaper still in
/// CPU, were not taken.
final class ReadSizeLimit: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    static let bytes = 16 << 10
    static let uploadBytes = 32 << 10
    static let uploadReadsPerWakeUp: UInt = 16

    func handlerAdded(context: ChannelHandlerContext) {
        _ = context.channel.setOption(ChannelOptions.recvAllocator, value: Self.allocator(reading: Self.bytes))
        _ = context.channel.setOption(ChannelOptions.maxMessagesPerRead, value: 1)
    }

    private static func allocator(reading bytes: Int) -> AdaptiveRecvByteBufferAllocator {
        AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: bytes, maximum: bytes)
    }

    /// Runs `body` (which reads an upload's body) with larger and more reads per wake-up on `channel`, and
    /// the narrow reads again after.
    static func widened<T: Sendable>(_ channel: any Channel, _ body: () async throws -> T) async throws -> T {
        try await Self.setReads(channel, count: Self.uploadReadsPerWakeUp, bytes: Self.uploadBytes)
        do {
            let result = try await body()
            try await Self.setReads(channel, count: 1, bytes: Self.bytes)
            return result
        } catch {
            // A closed connection cannot be narrowed, and need not be.
            try? await Self.setReads(channel, count: 1, bytes: Self.bytes)
            throw error
        }
    }

    private static func setReads(_ channel: any Channel, count: UInt, bytes: Int) async throws {
        try await channel.setOption(ChannelOptions.maxMessagesPerRead, value: count).get()
        try await channel.setOption(ChannelOptions.recvAllocator, value: Self.allocator(reading: bytes)).get()
    }
}
