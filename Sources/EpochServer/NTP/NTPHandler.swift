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
    /// NTS (RFC 8915): authenticates requests that carry its fields and seals their replies.
    private let nts: NTSNTPService?

    init(
        responder: NTPResponder, wallClock: WallClock, clock: ClockState, metrics: NTPMetrics, logger: Logger,
        nts: NTSNTPService? = nil
    ) {
        self.responder = responder
        self.wallClock = wallClock
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        self.nts = nts
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
            var leap = packet.leap
            switch nts?.answer(to: request.data.readableBytesView, header: packet, transmitTime: transmitTime) {
            case .send(let sealed, let sealedLeap)?: (bytes, leap) = (sealed, sealedLeap)
            case .dropped?: return
            case .plain?, nil:
                NTPPacket.stamp(transmitTime: transmitTime(), into: &bytes)
            }
            let reply = AddressedEnvelope(
                remoteAddress: request.remoteAddress, data: context.channel.allocator.buffer(bytes: bytes))
            // Counted before the write: a client that has its answer finds it counted.
            metrics.replied(leap)
            context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
        }
    }

    private func transmitTime() -> NTPTimestamp { NTPTimestamp(unixNanoseconds: wallClock.now()) }

    /// A datagram socket's errors (an ICMP unreachable surfacing on a later read, a full send
    /// buffer) concern one peer, not the server: count them and keep the socket open.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        metrics.socketError()
        logger.debug("NTP socket error", metadata: ["error": "\(error)"])
    }
}
