import EpochCore
import NIOCore
import NIOHTTP1

/// t1 and t4 of the exchange under way, as close to the socket as user code gets: t1 when the
/// request's first bytes are handed to the channel, t4 when the response's first bytes are read.
/// Shared by the two handlers below, both on the channel's event loop.
final class ExchangeClock {
    let clock: WallClock
    var sentAt: PairedClockReading?
    var firstByteAt: PairedClockReading?

    init(clock: WallClock) { self.clock = clock }
}

/// Sits next to the socket (in front of TLS, if any) and stamps the first write and first read
/// of each exchange.
final class SocketTimestampHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let exchange: ExchangeClock

    init(exchange: ExchangeClock) { self.exchange = exchange }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if exchange.sentAt == nil { exchange.sentAt = exchange.clock.paired() }
        context.write(data, promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if exchange.sentAt != nil && exchange.firstByteAt == nil { exchange.firstByteAt = exchange.clock.paired() }
        context.fireChannelRead(data)
    }
}

/// A complete response with the socket times of its exchange.
struct TimedResponse: Sendable {
    var sent: PairedClockReading
    var received: PairedClockReading
    var response: NIOHTTPClientResponseFull

    var sentAt: UnixNanoseconds { sent.realtime }
    var receivedAt: UnixNanoseconds { received.realtime }
    /// A step of the local clock between t1 and t4 (`SyncSample.localStep`).
    var localStep: Int64 { received.step(since: sent) }
}

/// At the end of the pipeline: pairs each aggregated response with its exchange's times and
/// starts the next exchange.
final class TimedResponseHandler: ChannelInboundHandler {
    typealias InboundIn = NIOHTTPClientResponseFull
    typealias InboundOut = TimedResponse

    private let exchange: ExchangeClock

    init(exchange: ExchangeClock) { self.exchange = exchange }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let response = unwrapInboundIn(data)
        let now = exchange.clock.paired()
        let timed = TimedResponse(
            sent: exchange.sentAt ?? now, received: exchange.firstByteAt ?? now, response: response)
        exchange.sentAt = nil
        exchange.firstByteAt = nil
        context.fireChannelRead(wrapInboundOut(timed))
    }
}
