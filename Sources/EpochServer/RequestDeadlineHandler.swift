import NIOCore

/// Bounds what one request may cost before it is answered: it must arrive completely within
/// `timeout` of its first byte, in at most `maxBytes` bytes.
///
/// It sits in front of the HTTP decoder and sees raw bytes; the request handler tells it a request
/// is complete with a `RequestReceived` outbound event. This is what stops slowloris clients, which
/// keep NIO's `IdleStateHandler` content by trickling a byte at a time.
final class RequestDeadlineHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Sent outbound by the request handler when a request has been read in full.
    struct RequestReceived {}

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
        if deadline == nil {
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                context.close(promise: nil)
            }
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is RequestReceived else {
            return context.triggerUserOutboundEvent(event, promise: promise)
        }
        deadline?.cancel()
        deadline = nil
        bytesTowardsRequest = 0
        promise?.succeed()
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
