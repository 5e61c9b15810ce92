import EpochCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The HTTP server as a swift-service-lifecycle `Service`.
///
/// Graceful shutdown (SIGTERM) drains in the order Kubernetes needs: `/readyz` turns 503 at once,
/// the server keeps serving for `shutdownDelay` while endpoints are removed, then NIO's quiescing
/// helper stops accepting, lets in-flight requests finish and closes idle keep-alive connections.
/// Cancellation of `run` closes everything at once.
public final class EpochHTTPServer: Service, Sendable {
    public let configuration: ServerConfiguration
    public let readiness = Readiness()
    public let metrics: ServerMetrics
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let bound: EventLoopPromise<SocketAddress>

    /// The address the server listens on, once it does (port 0 in the configuration picks one).
    public var boundAddress: EventLoopFuture<SocketAddress> { bound.futureResult }

    public init(configuration: ServerConfiguration, logger: Logger, metrics: ServerMetrics = ServerMetrics()) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoopThreads ?? System.coreCount)
        self.bound = group.next().makePromise()
    }

    public func run() async throws {
        defer { logger.info("stopped") }
        do {
            try await serveUntilDrained()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        // Shutting the group down closes whatever the drain left open (all of it, when cancelled).
        try? await group.shutdownGracefully()
        if Task.isCancelled { throw CancellationError() }
    }

    /// Serves until the drain completes. The quiescing helper must not outlive this: its deinit
    /// touches the event loop group, which `run` shuts down afterwards.
    private func serveUntilDrained() async throws {
        let application = EpochApplication(configuration: configuration, readiness: readiness, metrics: metrics)
        let quiesce = ServerQuiescingHelper(group: group)
        let drain = DrainCompletion(promise: group.next().makePromise())
        let channel: Channel
        do {
            channel = try await bind(application: application, quiesce: quiesce)
        } catch {
            bound.fail(error)
            drain.complete(.success(()))
            throw error
        }
        bound.succeed(channel.localAddress!)
        logger.info("listening", metadata: ["address": "\(channel.localAddress!)", "rev": "\(configuration.revision)"])

        let delay = configuration.shutdownDelay
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await drain.finished.get()
            } onGracefulShutdown: { [logger, readiness, group] in
                readiness.beginDrain()
                logger.info(
                    "draining: /readyz now answers 503", metadata: ["shutdown-delay": "\(formatDuration(delay))"])
                group.next().scheduleTask(in: .nanoseconds(delay.totalNanoseconds)) {
                    logger.info("draining: no longer accepting; finishing in-flight requests")
                    let quiesced = group.next().makePromise(of: Void.self)
                    quiesced.futureResult.whenComplete { drain.complete($0) }
                    quiesce.initiateShutdown(promise: quiesced)
                }
            }
        } onCancel: { [logger] in
            logger.warning("shutting down at once: closing every connection")
            drain.complete(.failure(CancellationError()))
        }
    }

    private func bind(application: EpochApplication, quiesce: ServerQuiescingHelper) async throws -> Channel {
        let configuration = self.configuration
        var caches: [ObjectIdentifier: NIOLoopBound<SecondCache>] = [:]
        for loop in group.makeIterator() {
            caches[ObjectIdentifier(loop)] = try await loop.submit {
                NIOLoopBound(
                    SecondCache(hostname: configuration.hostname, revision: configuration.revision), eventLoop: loop)
            }.get()
        }
        let secondCaches = caches
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderListSize = configuration.maxHeaderBytes
        decoderLimits.maxHeaderFieldSize = configuration.maxHeaderBytes
        decoderLimits.maxHeaderFieldCount = 100
        let limits = decoderLimits

        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            // `.tcpOption`, not `.socketOption(.tcp_nodelay)`: the latter sets SO_DEBUG.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(
                        IdleStateHandler(readTimeout: .nanoseconds(configuration.idleTimeout.totalNanoseconds)))
                    let deadline = RequestDeadlineHandler(
                        timeout: .nanoseconds(configuration.requestTimeout.totalNanoseconds),
                        maxBytes: configuration.maxRequestBytes)
                    try pipeline.addHandler(deadline)
                    // Outbound header validation is off: every header the server sends is its own
                    // constant or number, never client input, and re-checking the cached `GET /`
                    // head on every response cost ~2 % of the core.
                    try pipeline.configureHTTPServerPipeline(
                        withPipeliningAssistance: true,
                        withErrorHandling: true,
                        withOutboundHeaderValidation: false,
                        withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: limits)
                    let cache = secondCaches[ObjectIdentifier(channel.eventLoop)]!.value
                    try pipeline.addHandler(
                        EpochHTTPHandler(application: application, cache: cache, deadline: deadline))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
    }
}

/// The end of a drain, which either the quiescing helper or cancellation reaches first: the
/// first one completes the promise, and the other is ignored explicitly rather than relying on
/// what a second completion of an NIO promise does.
private final class DrainCompletion: Sendable {
    private let promise: EventLoopPromise<Void>
    private let completed = NIOLockedValueBox(false)

    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    var finished: EventLoopFuture<Void> { promise.futureResult }

    func complete(_ result: Result<Void, any Error>) {
        let first = completed.withLockedValue { done in
            defer { done = true }
            return !done
        }
        if first { promise.completeWith(result) }
    }
}
