import EpochCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// An HTTP/1.1 server for any route set, as a swift-service-lifecycle `Service`: `epoch serve`
/// runs it with `EpochApplication`, and other commands with routes of their own.
///
/// Each connection's pipeline: `ConnectionGuard` (request deadline and size, idle timeout,
/// backpressure), NIO's `HTTPRequestDecoder` with the configured limits, then
/// `HTTPConnectionHandler`, which writes every response as one pre-encoded buffer. A `ConnectionLimiter` on the listening
/// channel closes connections over `maxConnections` at accept.
///
/// Graceful shutdown (SIGTERM) drains in the order Kubernetes needs: `readiness` turns draining at
/// once, the server keeps serving for `shutdownDelay` while endpoints are removed, then NIO's
/// quiescing helper stops accepting, lets in-flight requests finish and closes idle keep-alive
/// connections. Cancellation of `run` closes everything at once.
package final class HTTPServer<Routes: HTTPRoutes>: Service, Sendable {
    package let configuration: ServerConfiguration
    package let routes: Routes
    package let readiness: Readiness
    package let metrics: ServerMetrics
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let bound: EventLoopPromise<SocketAddress>
    private let limiter: ConnectionLimiter
    private let threads: Int
    /// Made here, not in `run`: callers name the concrete route set when they create the server,
    /// so its closures are specialized (`run` is reached through the `Service` protocol).
    private let table: RouteTable

    /// The address the server listens on, once it does (port 0 in the configuration picks one).
    package var boundAddress: EventLoopFuture<SocketAddress> { bound.futureResult }

    /// `readiness` is the one the routes report (its drain begins at SIGTERM); `metrics` the
    /// registry the request, connection and routes' own metrics are exposed from.
    package init(
        configuration: ServerConfiguration, routes: Routes, readiness: Readiness = Readiness(),
        metrics: ServerMetrics = ServerMetrics(), logger: Logger
    ) {
        self.configuration = configuration
        self.routes = routes
        self.readiness = readiness
        self.metrics = metrics
        self.logger = logger
        self.threads = configuration.eventLoopThreads ?? EventLoopThreads.available
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        self.bound = group.next().makePromise()
        self.limiter = ConnectionLimiter(maxConnections: configuration.maxConnections)
        self.table = RouteTable(routes)
        let open = metrics.registry.makeGauge(
            descriptor: .init(
                namespace: "http", metricName: "connections", unitName: "open", helpText: "HTTP connections open now."))
        let rejected = metrics.registry.makeCounter(
            descriptor: .init(
                namespace: "http", subsystem: "connections", metricName: "rejected", unitName: "total",
                helpText: "HTTP connections closed at accept because --max-connections were open."))
        let published = NIOLockedValueBox(0)
        metrics.onScrape { [limiter] in
            open.set(Double(limiter.openConnections))
            let total = limiter.rejectedConnections
            published.withLockedValue { last in
                rejected.increment(by: Int64(total - last))
                last = total
            }
        }
    }

    package func run() async throws {
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
        let quiesce = ServerQuiescingHelper(group: group)
        let drain = DrainCompletion(promise: group.next().makePromise())
        let channel: Channel
        do {
            channel = try await bind(quiesce: quiesce)
        } catch {
            bound.fail(error)
            drain.complete(.success(()))
            throw error
        }
        bound.succeed(channel.localAddress!)
        logger.info(
            "listening",
            metadata: [
                "address": "\(channel.localAddress!)", "rev": "\(configuration.revision)",
                "threads": "\(threads)",
                "max-connections": "\(configuration.maxConnections)",
            ])

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

    private func bind(quiesce: ServerQuiescingHelper) async throws -> Channel {
        let configuration = self.configuration
        let routes = self.table
        let limiter = self.limiter
        var states: [ObjectIdentifier: NIOLoopBound<LoopState>] = [:]
        for loop in group.makeIterator() {
            states[ObjectIdentifier(loop)] = try await loop.submit { [metrics] in
                NIOLoopBound(LoopState(metrics: metrics, routeLabels: routes.labels), eventLoop: loop)
            }.get()
        }
        let loopStates = states

        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(limiter.makeServerChannelHandler())
                    try pipeline.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            // `.tcpOption`, not `.socketOption(.tcp_nodelay)`: the latter sets SO_DEBUG.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // Bounds one read batch (what `ConnectionGuard` may have to hold): 4 reads of at
            // most 16 KiB. A client that waits for each answer sends far less per read.
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 16384)
            )
            // Small enough that a client not reading stops being read after a few responses' worth
            // of KiB, large enough that a normal keep-alive answer never reaches it.
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 8 * 1024, high: 32 * 1024))
            // The kernel's send buffer, fixed instead of autotuned (up to 4 MiB here): answers a
            // client does not read are work done for nothing, and with autotuning a pipelining
            // flood of 100 connections kept a loop busy for seconds, delaying other clients.
            // Every answer of this server is small, so 64 KiB (the kernel doubles the 32) is ample.
            .childChannelOption(.socketOption(.so_sndbuf), value: 32 * 1024)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.addConnectionHandlers(
                        to: channel.pipeline.syncOperations, configuration: configuration, routes: routes,
                        state: loopStates[ObjectIdentifier(channel.eventLoop)]!.value)
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
    }

    /// Adds one connection's handlers to `channel`, as for an accepted connection but with a
    /// `LoopState` of its own: the HTTP fuzz target (Tests/Fuzz/http) drives them on an
    /// `EmbeddedChannel`, bytes in and responses out, without a socket.
    package func addConnectionHandlers(to channel: any Channel) throws {
        try Self.addConnectionHandlers(
            to: channel.pipeline.syncOperations, configuration: configuration, routes: table,
            state: LoopState(metrics: metrics, routeLabels: table.labels))
    }

    /// Every connection's pipeline: `ConnectionGuard`, NIO's request decoder with the configured
    /// limits, `HTTPConnectionHandler`.
    private static func addConnectionHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations, configuration: ServerConfiguration, routes: RouteTable,
        state: LoopState
    ) throws {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = configuration.maxHeaderBytes
        limits.maxHeaderFieldSize = configuration.maxHeaderBytes
        limits.maxHeaderFieldCount = 100
        let deadline = ConnectionGuard(
            requestTimeout: .nanoseconds(configuration.requestTimeout.totalNanoseconds),
            maxRequestBytes: configuration.maxRequestBytes,
            idleTimeout: .nanoseconds(configuration.idleTimeout.totalNanoseconds),
            sliceBytes: configuration.backpressure ? 4096 : nil)
        try pipeline.addHandler(deadline)
        try pipeline.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits)))
        try pipeline.addHandler(HTTPConnectionHandler(routes: routes, loop: state, deadline: deadline))
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
