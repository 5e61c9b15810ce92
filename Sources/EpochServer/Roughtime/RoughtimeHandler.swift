import EpochCore
import Logging
import NIOCore

/// Answers Roughtime datagrams in batches: `channelRead` only parses and collects, and
/// `channelReadComplete` (the end of one read burst, up to `maxMessagesPerRead` datagrams)
/// answers everything collected from one Merkle tree and one signature per version.
///
/// Nothing malformed is ever answered: it is dropped and counted by reason. A reply larger than
/// its request is dropped too, which cannot happen for requests of at least 1024 bytes with the
/// batch sizes used (a reply is 420 bytes plus 32 per tree level), but is checked rather than assumed.
final class RoughtimeHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let keyring: RoughtimeKeyring
    private let clock: ClockState
    private let wallClock: WallClock
    private let metrics: RoughtimeMetrics
    private let logger: Logger
    /// Sign although the clock is unsynchronized (`--roughtime-serve-unsynchronized`, labs only).
    private let serveUnsynchronized: Bool
    private var pending: [(address: SocketAddress, request: RoughtimeRequest)] = []
    private var wasSynchronized: Bool?

    init(
        keyring: RoughtimeKeyring, clock: ClockState, wallClock: WallClock, metrics: RoughtimeMetrics, logger: Logger,
        serveUnsynchronized: Bool = false
    ) {
        self.serveUnsynchronized = serveUnsynchronized
        self.keyring = keyring
        self.clock = clock
        self.wallClock = wallClock
        self.metrics = metrics
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        metrics.requests.increment()
        var buffer = envelope.data
        // Read no further than needed to drop: a short datagram is never copied.
        guard buffer.readableBytes >= RoughtimeRequest.minimumSize,
            let bytes = buffer.readBytes(length: buffer.readableBytes)
        else {
            metrics.countDrop("too_short")
            return
        }
        do {
            let request = try RoughtimeRequest(parsing: bytes, serverKeyHash: keyring.serverKeyHash)
            pending.append((envelope.remoteAddress, request))
        } catch {
            metrics.countDrop(error.reason)
            logger.trace(
                "dropped a request", metadata: ["reason": "\(error.reason)", "from": "\(envelope.remoteAddress)"])
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        answer(batch, context: context)
        context.flush()
    }

    private func answer(_ batch: [(address: SocketAddress, request: RoughtimeRequest)], context: ChannelHandlerContext)
    {
        // The reading first, then the time it bounds: RADI comes from maxerror aged to this moment.
        let discipline = clock.discipline
        let now = wallClock.now()
        // MIDP to the nearest second; RADI includes the half second this can cost.
        let midpoint = UInt64(clamping: (now + 500_000_000) / 1_000_000_000)
        let radius = RoughtimeRadius.seconds(for: discipline)
        if wasSynchronized != discipline.isSynchronized {
            wasSynchronized = discipline.isSynchronized
            let action = discipline.isSynchronized || serveUnsynchronized ? "RADI \(radius) s" : "not answering"
            logger.notice("roughtime \(action): \(discipline.reason)")
        }
        // RFC 10049 §5.2.5: the true time MUST lie within MIDP ± RADI. An unsynchronized kernel's
        // maxerror is a cap, not a bound, so nothing is signed unless a lab asks for it.
        guard discipline.isSynchronized || serveUnsynchronized else {
            for _ in batch { metrics.countDrop("unsynchronized") }
            return
        }
        metrics.batches.increment()
        let delegation: RoughtimeDelegation
        do {
            delegation = try keyring.delegation(now: midpoint) { [metrics, logger] in
                metrics.delegations.increment()
                logger.info("roughtime: delegated to a new online key")
            }
        } catch {
            for _ in batch { metrics.countDrop("signing_failed") }
            logger.error("roughtime: cannot delegate to a new online key")
            return
        }
        for version in RoughtimeVersion.allCases {
            let group = batch.filter { $0.request.version == version }
            guard !group.isEmpty else { continue }
            let replies: [[UInt8]]
            do {
                replies = try RoughtimeResponder.respond(
                    to: group.map(\.request), version: version, delegation: delegation, midpoint: midpoint,
                    radius: radius)
            } catch {
                for _ in group { metrics.countDrop("signing_failed") }
                continue
            }
            metrics.signatures.increment()
            for (entry, reply) in zip(group, replies) {
                guard reply.count <= entry.request.packet.count else {
                    metrics.countDrop("response_too_large")
                    continue
                }
                let buffer = context.channel.allocator.buffer(bytes: reply)
                context.write(
                    wrapOutboundOut(AddressedEnvelope(remoteAddress: entry.address, data: buffer)), promise: nil)
                metrics.countResponse(version)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A UDP socket error (e.g. ICMP port unreachable reported on a later read) concerns one
        // peer; the channel keeps serving.
        logger.debug("roughtime socket error: \(error)")
    }
}
