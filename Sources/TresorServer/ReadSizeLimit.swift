import NIOCore

/// Caps how many bytes one socket read takes on a connection. A connection whose request waits for an
/// upload slot keeps what was read until then in its body stream (two reads, `BoundedHTTP1Channel`), so
/// the cap, not the number of clients, bounds that memory.
///
/// An upload that holds a slot reads with `uploadBytes` instead, until its body is in. Every read hands
/// its bytes from the event loop to the request's task, a wake-up and a thread switch each: at 16 KiB a
/// 2 MiB batch took 128 of them, and they were most of the server's CPU in a served backup (docs/server.md,
/// run I). Only the upload slots (8) read this wide at once, so the memory stays bounded.
final class ReadSizeLimit: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    static let bytes = 16 << 10
    static let uploadBytes = 256 << 10

    func handlerAdded(context: ChannelHandlerContext) {
        _ = context.channel.setOption(ChannelOptions.recvAllocator, value: Self.allocator(Self.bytes))
        _ = context.channel.setOption(ChannelOptions.maxMessagesPerRead, value: 1)
    }

    /// Runs `body` (which reads an upload's body) with wide reads on `channel`, and narrows them again after.
    static func widened<T: Sendable>(_ channel: any Channel, _ body: () async throws -> T) async throws -> T {
        try await channel.setOption(ChannelOptions.recvAllocator, value: Self.allocator(Self.uploadBytes)).get()
        do {
            let result = try await body()
            try await channel.setOption(ChannelOptions.recvAllocator, value: Self.allocator(Self.bytes)).get()
            return result
        } catch {
            // A closed connection cannot be narrowed, and needs not be.
            try? await channel.setOption(ChannelOptions.recvAllocator, value: Self.allocator(Self.bytes)).get()
            throw error
        }
    }

    private static func allocator(_ bytes: Int) -> AdaptiveRecvByteBufferAllocator {
        AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: bytes, maximum: bytes)
    }
}
