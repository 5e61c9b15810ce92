import EpochCore
import Logging
import NIOCore

/// Answers NTP client requests on one UDP socket. Everything runs on the socket's event loop:
/// the receive timestamp is read as the datagram reaches the pipeline (NIO delivers each
/// datagram right after its `recvmsg`, and exposes no kernel receive timestamps), the transmit
/// timestamp right before the write.
final class NTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let responder: NTPResponder
    private let wallClock: WallClock
    private let clock: ClockState
    private let metrics: NTPMetrics
    private let logger: Logger

    init(responder: NTPResponder, wallClock: WallClock, clock: ClockState, metrics: NTPMetrics, logger: Logger) {
        self.responder = responder
        self.wallClock = wallClock
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let receivedAt = wallClock.now()
        let request = unwrapInboundIn(data)
        switch responder.respond(
            to: request.data.readableBytesView, receivedAt: receivedAt, discipline: clock.discipline)
        {
        case .drop(let reason):
            metrics.dropped(reason)
        case .reply(let packet):
            var bytes = packet.bytes
            NTPPacket.stamp(transmitTime: NTPTimestamp(unixNanoseconds: wallClock.now()), into: &bytes)
            let reply = AddressedEnvelope(
                remoteAddress: request.remoteAddress, data: context.channel.allocator.buffer(bytes: bytes))
            // Counted before the write: a client that has its answer finds it counted.
            metrics.replied(packet.leap)
            context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
        }
    }

    /// A datagram socket's errors (an ICMP unreachable surfacing on a later read, a full send
    /// buffer) concern one peer, not the server: count them and keep the socket open.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        metrics.socketError()
        logger.debug("NTP socket error", metadata: ["error": "\(error)"])
    }
}
