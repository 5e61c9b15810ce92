import Logging
import NIOCore
import ServiceLifecycle

/// `epoch serve`'s HTTP server: `HTTPServer` with the epoch routes (`EpochApplication`).
package final class EpochHTTPServer: Service, Sendable {
    package let http: HTTPServer<EpochApplication>

    package var configuration: ServerConfiguration { http.configuration }
    package var readiness: Readiness { http.readiness }
    package var metrics: ServerMetrics { http.metrics }
    /// The address the server listens on, once it does (port 0 in the configuration picks one).
    package var boundAddress: EventLoopFuture<SocketAddress> { http.boundAddress }
    /// The clock discipline this process serves; the one instance Serve.swift also gives the other protocols.
    package let clock: ClockState

    /// `clock` is the process's one `ClockState`, shared with the other protocols' servers.
    package init(
        configuration: ServerConfiguration, logger: Logger, metrics: ServerMetrics = ServerMetrics(),
        clock: ClockState = ClockState()
    ) {
        self.clock = clock
        ClockMetrics.register(clock, with: metrics)
        let readiness = Readiness()
        let application = EpochApplication(
            configuration: configuration, readiness: readiness, metrics: metrics, clockState: clock)
        metrics.countRequests(
            toRoute: EpochRoute.epoch.metricLabel, as: "epoch_request_count",
            help: "Requests to /, any method and status (go-microepoch's counter, kept by name).")
        self.http = HTTPServer(
            configuration: configuration, routes: application, readiness: readiness, metrics: metrics, logger: logger)
    }

    package func run() async throws { try await http.run() }
}
