import NIOCore

/// Caps how many bytes one socket read takes on a connection. A connection whose request waits for an
/// upload slot keeps what was read until then in its body stream (two reads, `BoundedHTTP1Channel`), so
/// the cap, not the number of clients, bounds that memory.
final class ReadSizeLimit: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    static let bytes = 16 << 10

    func handlerAdded(context: ChannelHandlerContext) {
        _ = context.channel.setOption(ChannelOptions.recvAllocator,
                                      value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: Self.bytes, maximum: Self.bytes))
        _ = context.channel.setOption(ChannelOptions.maxMessagesPerRead, value: 1)
    }
}
