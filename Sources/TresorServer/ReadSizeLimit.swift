import NIOCore

/// Caps how many bytes one socket read takes on a connection. A connection whose request waits for an
/// upload slot keeps what was read until then in its body stream (two reads, `BoundedHTTP1Channel`), so
/// the cap, not the number of clients, bounds that memory.
///
/// An upload that holds a slot takes up to `uploadReadsPerWakeUp` reads each time its socket is readable,
/// until its body is in. The request's task is woken once per wake-up with all of them (the async channel
/// hands over a wake-up's reads together). At one read per wake-up, a 2 MiB batch cost 128 wake-ups and
/// thread switches between the event loop and the task: about a fifth of the server's time in a served
/// backup (docs/server.md, Figures, 2026-11-23). The reads keep their 16 KiB size, so no connection keeps
/// a larger receive buffer afterwards (NIO reuses a connection's receive buffer at the largest size it
/// ever grew to).
final class ReadSizeLimit: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    static let bytes = 16 << 10
    static let uploadReadsPerWakeUp: UInt = 16

    func handlerAdded(context: ChannelHandlerContext) {
        _ = context.channel.setOption(ChannelOptions.recvAllocator,
                                      value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: Self.bytes, maximum: Self.bytes))
        _ = context.channel.setOption(ChannelOptions.maxMessagesPerRead, value: 1)
    }

    /// Runs `body` (which reads an upload's body) with several reads per wake-up on `channel`, and one again after.
    static func widened<T: Sendable>(_ channel: any Channel, _ body: () async throws -> T) async throws -> T {
        try await channel.setOption(ChannelOptions.maxMessagesPerRead, value: Self.uploadReadsPerWakeUp).get()
        do {
            let result = try await body()
            try await channel.setOption(ChannelOptions.maxMessagesPerRead, value: 1).get()
            return result
        } catch {
            // A closed connection cannot be narrowed, and need not be.
            try? await channel.setOption(ChannelOptions.maxMessagesPerRead, value: 1).get()
            throw error
        }
    }
}
