import EpochServer
import Logging
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `serve` and `watch` share around their services: the listen address, what the process says
/// about itself, its one metrics registry, and how it runs and stops.
enum ServiceRuntime {
    /// The listen address of an HTTP server: --host or EPOCH_HOST (default 0.0.0.0), and the
    /// command's port option, plus the build and host the server reports.
    static func configuration(host: String?, port: Int?, portEnvironment: String, defaultPort: Int) throws
        -> ServerConfiguration
    {
        var configuration = ServerConfiguration()
        configuration.host = try resolve(
            host, environment: "EPOCH_HOST", default: "0.0.0.0", accepts: IPAddressLiteral.accepts
        ) { IPAddressLiteral.isValid($0) ? $0 : nil }
        configuration.port = try resolvePort(port, option: "--port", environment: portEnvironment, default: defaultPort)
        configuration.hostname = hostName()
        configuration.revision = BuildInfo.revision
        configuration.version = BuildInfo.version
        configuration.swiftVersion = BuildInfo.swiftVersion
        return configuration
    }

    /// The process's one registry, with the process series and `epoch_build_info`.
    static func metrics(for configuration: ServerConfiguration) -> ServerMetrics {
        let metrics = ServerMetrics()
        ProcessMetrics.register(on: metrics)
        BuildInfoMetric.register(
            in: metrics.registry, version: configuration.version, revision: configuration.revision,
            swift: configuration.swiftVersion)
        return metrics
    }

    /// Runs `services` in one ServiceGroup until they end: the first SIGTERM or SIGINT shuts them
    /// down gracefully, last to first; a second exits at once (status 1).
    static func run(_ services: [ServiceGroupConfiguration.ServiceConfiguration], logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        // Trapping before the group runs, so that no early SIGTERM goes uncounted.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { await exitOnSecondSignal(signals, logger: logger) }
            try await group.run()
            tasks.cancelAll()
        }
    }
}

/// ServiceLifecycle turns the first SIGTERM/SIGINT into a graceful shutdown and ignores repeats
/// (its cancellation signals may not overlap the graceful ones); an operator's second Ctrl-C, or
/// a supervisor's second SIGTERM, means "now".
private func exitOnSecondSignal(_ signals: UnixSignalsSequence, logger: Logger) async {
    var received = 0
    for await signal in signals {
        received += 1
        if received == 2 {
            logger.warning("second \(signal): exiting at once")
            exit(1)
        }
    }
}
