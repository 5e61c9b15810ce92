import CoreMetrics
import NIOConcurrencyHelpers
import Prometheus

/// The server's Prometheus metrics: one registry per server process (every test has its own),
/// plus the request series each event loop counts without a lock and the scrape adds up.
package final class ServerMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let requestSeries = NIOLockedValueBox([(labels: RequestLabels, counts: RequestSeriesCounts)]())
    private let aliases = NIOLockedValueBox([RouteCountAlias]())
    private let scrapeHooks = NIOLockedValueBox([@Sendable () -> Void]())

    package init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
    }

    /// The factory every collector of this server's registry is made with (clock, process and
    /// protocol metrics register theirs through it).
    package var metricsFactory: PrometheusMetricsFactory { factory }

    /// Runs `hook` at the start of every scrape, before the registry is rendered: for gauges read
    /// from the system at scrape time (process and clock state) rather than on a timer.
    package func onScrape(_ hook: @escaping @Sendable () -> Void) {
        scrapeHooks.withLockedValue { $0.append(hook) }
    }

    /// Also exposes the count of every request to the route labelled `route` as counter `name`.
    package func countRequests(toRoute route: String, as name: String, help: String) {
        aliases.withLockedValue { $0.append(RouteCountAlias(route: route, name: name, help: help)) }
    }

    /// A new series for one event loop (each loop registers its own; the scrape adds them up).
    func registerRequestSeries(_ labels: RequestLabels) -> RequestSeriesCounts {
        let counts = RequestSeriesCounts()
        requestSeries.withLockedValue { $0.append((labels, counts)) }
        return counts
    }

    /// The Prometheus text exposition of every metric, after running the scrape hooks.
    package func emit(into buffer: inout [UInt8]) {
        for hook in scrapeHooks.withLockedValue({ $0 }) { hook() }
        registry.emit(into: &buffer)
        RequestMetricsExposition.render(
            requestSeries.withLockedValue { $0 }, aliases: aliases.withLockedValue { $0 }, into: &buffer)
    }
}
