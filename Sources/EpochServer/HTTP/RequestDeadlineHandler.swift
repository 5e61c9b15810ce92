import NIOCore

/// Bounds what one request may cost before it is answered: it must arrive completely within
/// `timeout` of its first byte, in at most `maxBytes` bytes.
///
/// It sits in front of the HTTP decoder and sees raw bytes; the request handler, on the same
/// event loop, calls `requestReceived()` when a request is complete. The timer starts only when a
/// read burst ends with a request still incomplete, so the usual request, which arrives whole in
/// one read, costs no timer at all. This is what stops slowloris clients, which keep NIO's
/// `IdleStateHandler` content by trickling a byte at a time.
final class RequestDeadlineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let maxBytes: Int
    private var deadline: Scheduled<Void>?
    private var bytesTowardsRequest = 0
    private var rejected = false

    init(timeout: TimeAmount, maxBytes: Int) {
        self.timeout = timeout
        self.maxBytes = maxBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !rejected else { return }
        bytesTowardsRequest += unwrapInboundIn(data).readableBytes
        if bytesTowardsRequest > maxBytes {
            return reject(context: context)
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if bytesTowardsRequest > 0 && deadline == nil && !rejected {
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                context.close(promise: nil)
            }
        }
        context.fireChannelReadComplete()
    }

    /// A request has been read in full: the next one starts from zero bytes and no deadline.
    func requestReceived() {
        deadline?.cancel()
        deadline = nil
        bytesTowardsRequest = 0
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }

    /// Answers 431 straight onto the socket and closes: the decoder behind may hold a partial
    /// request, so this cannot go through the HTTP encoder. The close is a lingering one (shut
    /// down our side, keep reading and discarding): closing with unread input makes the kernel
    /// send RST, and the client would lose the answer.
    private func reject(context: ChannelHandlerContext) {
        rejected = true
        deadline?.cancel()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            context.close(promise: nil)
        }
        let body = #"{"error":"request too large","status":431}"#
        let response =
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            + "content-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response)))
            .assumeIsolated().whenComplete { _ in context.close(mode: .output, promise: nil) }
    }
}

extension RequestDeadlineHandler {
    /// `IdleStateHandler` (in front) only reports an idle connection; closing it is ours to do.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
