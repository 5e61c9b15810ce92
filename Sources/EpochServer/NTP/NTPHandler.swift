import EpochCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Answers NTP client requests on one UDP socket. Everything runs on the socket's event loop:
/// the receive timestamp is read as the datagram reaches the pipeline (NIO exposes no kernel
/// receive timestamps; it reads up to 16 datagrams per `recvmmsg` and hands them on one by one,
/// each after the replies to those before it, as they would have waited in the socket), the
/// transmit timestamp right before the write.
final class NTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let responder: NTPResponder
    private let wallClock: WallClock
    private let clock: ClockState
    private let metrics: NTPMetrics
    private let logger: Logger
    /// Per-client rate limiting (`--ntp-rate-limit`); only this channel's event loop uses it, the
    /// lock is uncontended.
    private let rateLimiter: NIOLockedValueBox<ClientRateLimiter>?

    /// NTS (RFC 8915): authenticates requests that carry its fields and seals their replies.
    private let nts: NTSNTPService?

    init(
        responder: NTPResponder, wallClock: WallClock, clock: ClockState, metrics: NTPMetrics, logger: Logger,
        rateLimiter: ClientRateLimiter? = nil, nts: NTSNTPService? = nil
    ) {
        self.responder = responder
        self.wallClock = wallClock
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        self.rateLimiter = rateLimiter.map { NIOLockedValueBox($0) }
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
        case .reply(var packet):
            var limited = false
            if let rateLimiter, let address = ClientRateLimiter.Address(request.remoteAddress) {
                // Only requests that would be answered count, as in chrony (after the mode check).
                let now = Int64(clamping: NIODeadline.now().uptimeNanoseconds)
                var random = SystemRandomNumberGenerator()
                let (verdict, interval) = rateLimiter.withLockedValue {
                    ($0.admit(address, now: now, random: &random), $0.settings.intervalLog2)
                }
                if verdict == .limited {
                    packet = NTPResponder.rateKiss(replacing: packet, minimumPollLog2: interval)
                    limited = true
                }
            }
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
            if limited { metrics.rateLimited() } else { metrics.replied(leap) }
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

extension ClientRateLimiter.Address {
    /// The IP address of a datagram's sender; nil for a Unix socket.
    init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            let bytes = withUnsafeBytes(of: v4.address.sin_addr.s_addr) { Array($0) }
            self.init(ipv4: (bytes[0], bytes[1], bytes[2], bytes[3]))
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            let word = { (range: Range<Int>) in bytes[range].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
            self.init(high: word(0..<8), low: word(8..<16))
        case .unixDomainSocket:
            return nil
        }
    }
}
