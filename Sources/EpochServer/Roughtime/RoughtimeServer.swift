import Crypto
import EpochCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The Roughtime server (RFC 10049) as a swift-service-lifecycle `Service` on its own UDP channel.
///
/// It belongs in the same ServiceGroup as the HTTP server, listed before it: the group shuts
/// services down in reverse order, so Roughtime keeps answering through HTTP's whole drain
/// (`--shutdown-delay` included) and closes when HTTP has finished.
package final class RoughtimeServer: Service, Sendable {
    package let keyring: RoughtimeKeyring
    private let host: String
    private let port: Int
    private let clock: ClockState
    private let wallClock: WallClock
    private let metrics: RoughtimeMetrics
    private let logger: Logger
    private let loop = DatagramServiceLoop()
    /// Datagrams taken per read, and so the largest batch one signature answers.
    private let maxBatch: Int
    private let serveUnsynchronized: Bool

    /// The address the server listens on, once it does (port 0 picks one).
    package var boundAddress: EventLoopFuture<SocketAddress> { loop.boundAddress }

    package init(
        host: String, port: Int, longTermKey: Curve25519.Signing.PrivateKey, clock: ClockState,
        metrics: ServerMetrics, logger: Logger, clockSkew: Duration = .zero,
        delegationValidity: Duration = .seconds(86_400), maxBatch: Int = 64, serveUnsynchronized: Bool = false
    ) throws {
        self.serveUnsynchronized = serveUnsynchronized
        self.host = host
        self.port = port
        self.clock = clock
        self.wallClock = WallClock(skew: clockSkew)
        self.metrics = RoughtimeMetrics(metrics)
        self.logger = logger
        self.maxBatch = maxBatch
        let now = UInt64(clamping: WallClock(skew: clockSkew).now() / 1_000_000_000)
        self.keyring = try RoughtimeKeyring(longTermKey: longTermKey, validity: delegationValidity, now: now)
    }

    package func run() async throws {
        defer { logger.info("roughtime stopped") }
        try await loop.serve(bind: bind) { channel in
            logger.info(
                "roughtime listening",
                metadata: [
                    "address": "\(channel.localAddress!)",
                    "versions": "\(RoughtimeVersion.supported.map(\.description).joined(separator: ","))",
                    "serve-unsynchronized": "\(serveUnsynchronized)",
                ])
        }
        if Task.isCancelled { throw CancellationError() }
    }

    private func bind() async throws -> Channel {
        let (keyring, clock, wallClock, metrics, logger, serveUnsynchronized) = (
            self.keyring, self.clock, self.wallClock, self.metrics, self.logger, self.serveUnsynchronized
        )
        return try await DatagramBootstrap(group: loop.group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.maxMessagesPerRead, value: UInt(maxBatch))
            // Room for a whole datagram (the largest request we would read) in each read.
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 2048))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RoughtimeHandler(
                            keyring: keyring, clock: clock, wallClock: wallClock, metrics: metrics, logger: logger,
                            serveUnsynchronized: serveUnsynchronized))
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}
