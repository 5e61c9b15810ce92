import EpochCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The NTP server (`epoch serve --ntp-port`) as a swift-service-lifecycle `Service`, run in the
/// same ServiceGroup as the HTTP server: a graceful shutdown closes its socket, cancellation too.
package final class NTPServer: Service, Sendable {
    package let configuration: NTPServerConfiguration
    private let clock: ClockState
    private let metrics: NTPMetrics
    private let logger: Logger
    private let loop = DatagramServiceLoop()
    private let nts: NTSNTPService?

    /// The address the server listens on, once it does.
    package var boundAddress: EventLoopFuture<SocketAddress> { loop.boundAddress }

    package init(
        configuration: NTPServerConfiguration, clock: ClockState, metrics: ServerMetrics, logger: Logger,
        nts: NTSNTPService? = nil
    ) {
        self.configuration = configuration
        self.nts = nts
        self.clock = clock
        self.metrics = NTPMetrics(registry: metrics.registry)
        self.logger = logger
    }

    package func run() async throws {
        do {
            try await loop.serve(bind: bind) { channel in
                logger.info(
                    "NTP listening",
                    metadata: [
                        "address": "\(channel.localAddress!)",
                        "serve-unsynchronized": "\(configuration.serveUnsynchronized)",
                        "rate-limit":
                            "\(configuration.rateLimit.map { "interval 2^\($0.intervalLog2) s, burst \($0.burst), leak 1/2^\($0.leakLog2)" } ?? "off")",
                        "clock": "\(clock.discipline.reason)",
                    ])
            }
        } catch {
            throw BindFailure(description: "cannot serve NTP on \(configuration.host):\(configuration.port): \(error)")
        }
        logger.info("NTP stopped")
    }

    /// Datagrams per `recvmmsg`.
    static let readBatch = 16

    private func bind() async throws -> Channel {
        let responder = NTPResponder(
            stratum: configuration.stratum, precision: NTPResponder.precision(resolutionNanoseconds: Self.resolution()),
            serveUnsynchronized: configuration.serveUnsynchronized, referenceID: configuration.referenceID)
        let handler = NTPHandler(
            responder: responder, wallClock: WallClock(skew: configuration.clockSkew), clock: clock, metrics: metrics,
            logger: logger, rateLimiter: configuration.rateLimit.map { ClientRateLimiter(settings: $0) }, nts: nts)
        return try await DatagramBootstrap(group: loop.group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            // Read several queued datagrams per wake-up, up to 16 per recvmmsg (as chronyd reads),
            // each into a 2,048-byte slice (NIO's datagram default; an NTS request is under 1,500).
            // Each is still answered, and its reply flushed, as it is handed on: batching the reads
            // moves no timestamp, since a datagram waits in the socket or in the batch alike.
            .channelOption(.maxMessagesPerRead, value: 16)
            .channelOption(.datagramVectorReadMessageCount, value: Self.readBatch)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.readBatch * 2048))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
    }

    /// The NTP socket could not be bound, in one line.
    package struct BindFailure: Error, CustomStringConvertible {
        package let description: String
    }

    /// CLOCK_REALTIME's resolution, for the precision field.
    private static func resolution() -> Int64 {
        var spec = timespec()
        guard clock_getres(CLOCK_REALTIME, &spec) == 0 else { return 1 }
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
