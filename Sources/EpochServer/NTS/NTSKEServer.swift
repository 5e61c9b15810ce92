import EpochCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// The NTS-KE server's settings (`epoch serve --nts-ke-port`), read once at start-up.
public struct NTSKEServerConfiguration: Sendable {
    /// Address to bind, the same as the HTTP server's `--host`.
    public var host = "0.0.0.0"
    /// TCP port; 4460 is NTS-KE's (RFC 8915 §7.1). 0 picks a free one.
    public var port = 4460
    /// The NTP port sent in the Port Negotiation record: where clients reach the NTP server (in
    /// Kubernetes the Service's port, not the container's). Nil: no record, clients use 123.
    public var ntpPort: UInt16?
    /// The handshake and the request together must finish within this (RFC 8915 leaves it open;
    /// chrony's own server allows 2 s of idle time per read).
    public var deadline: Duration = .seconds(5)
    /// Test-only: a wrong exporter context, so that clients derive other keys (the e2e control).
    public var wrongExporterContextForTesting = false

    public init() {}
}

/// NTS-KE over TLS 1.3 (RFC 8915 §4) as a swift-service-lifecycle `Service`, on a one-thread event
/// loop of its own: key establishment is rare (a client comes back only when its cookies run out).
///
/// Every connection gets an NIOSSLContext of its own, made from the current certificate: so that
/// a renewed certificate serves the next connection, and so that the key-log callback, the only
/// way to the exporter secret in swift-nio-ssl 2.37.6, is tied to exactly one connection.
public final class NTSKEServer: Service, Sendable {
    public let configuration: NTSKEServerConfiguration
    private let keyFiles: NTSKeyFiles
    private let metrics: NTSMetrics
    private let logger: Logger
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let bound: EventLoopPromise<SocketAddress>

    /// The address the server listens on, once it does.
    public var boundAddress: EventLoopFuture<SocketAddress> { bound.futureResult }

    public init(configuration: NTSKEServerConfiguration, keyFiles: NTSKeyFiles, metrics: NTSMetrics, logger: Logger) {
        self.configuration = configuration
        self.keyFiles = keyFiles
        self.metrics = metrics
        self.logger = logger
        self.bound = group.next().makePromise()
    }

    public func run() async throws {
        let channel: Channel
        do {
            channel = try await bootstrap().bind(host: configuration.host, port: configuration.port).get()
        } catch {
            bound.fail(error)
            try? await group.shutdownGracefully()
            throw NTPServer.BindFailure(
                description: "cannot serve NTS-KE on \(configuration.host):\(configuration.port): \(error)")
        }
        bound.succeed(channel.localAddress!)
        logger.info(
            "NTS-KE listening",
            metadata: [
                "address": "\(channel.localAddress!)", "certificate": "\(keyFiles.certificatePath)",
                "ntp-port": "\(configuration.ntpPort.map { "\($0)" } ?? "123")",
                "cookie-key-ids": "\(keyFiles.keyring.keys.map(\.id))",
            ])
        // Certificate and cookie keys are looked at every few seconds too, so that the NTP path
        // picks up a rotated cookie key even when no NTS-KE connection comes.
        let refresh = channel.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(5), delay: .seconds(5)) {
            [keyFiles] _ in keyFiles.refresh()
        }
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
        refresh.cancel()
        try? await group.shutdownGracefully()
        logger.info("NTS-KE stopped")
    }

    private func bootstrap() -> ServerBootstrap {
        let deadline = TimeAmount.nanoseconds(
            configuration.deadline.components.seconds * 1_000_000_000
                + configuration.deadline.components.attoseconds / 1_000_000_000)
        let perturbation: UInt8 = configuration.wrongExporterContextForTesting ? 0x80 : 0
        return ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 64)
            .childChannelInitializer { [keyFiles, metrics, logger, configuration] channel in
                keyFiles.refresh()
                let slot = ExporterSecretSlot()
                let material = keyFiles.tls
                var tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: material.chain.map { .certificate($0) }, privateKey: .privateKey(material.key))
                tls.minimumTLSVersion = .tlsv13
                tls.applicationProtocols = [NTSKEHandler.alpn]
                tls.keyLogCallback = { slot.record($0) }
                return channel.eventLoop.makeCompletedFuture {
                    let context = try NIOSSLContext(configuration: tls)
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(
                        NTSKEHandler(
                            slot: slot, keyFiles: keyFiles, metrics: metrics, ntpPort: configuration.ntpPort,
                            deadline: deadline, contextPerturbation: perturbation, logger: logger))
                }
            }
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
    }
}
