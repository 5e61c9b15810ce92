import CoreMetrics
import NIOConcurrencyHelpers
import Prometheus

/// The server's Prometheus metrics, created through swift-metrics with an injected factory so that
/// every server instance (and every test) has its own registry.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    /// go-microepoch's counter of `/` requests, kept by name for its dashboards.
    private let epochRequests: CoreMetrics.Counter
    private let requestSeries = NIOLockedValueBox([SeriesKey: RequestSeries]())
    private let scrapeHooks = NIOLockedValueBox([@Sendable () -> Void]())

    struct SeriesKey: Hashable {
        let path: Route
        let code: UInt
    }

    /// One `{path, code}` combination's counter and duration histogram, looked up once per
    /// connection-loop and then reused: the hot path never touches the registry's lock.
    struct RequestSeries: Sendable {
        let requests: CoreMetrics.Counter
        let duration: CoreMetrics.Timer
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
            .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(50),
        ]
        self.factory = factory
        self.epochRequests = CoreMetrics.Counter(label: "epoch_request_count", factory: factory)
    }

    func series(path: Route, code: UInt) -> RequestSeries {
        requestSeries.withLockedValue { table in
            let key = SeriesKey(path: path, code: code)
            if let series = table[key] { return series }
            let dimensions = [("path", path.rawValue), ("code", String(code))]
            let series = RequestSeries(
                requests: CoreMetrics.Counter(label: "http_requests_total", dimensions: dimensions, factory: factory),
                duration: CoreMetrics.Timer(
                    label: "http_request_duration_seconds", dimensions: [("path", path.rawValue)], factory: factory)
            )
            table[key] = series
            return series
        }
    }

    func countEpochRequest() { epochRequests.increment() }

    /// The factory every collector of this server's registry is made with (clock, process and
    /// protocol metrics register theirs through it).
    public var metricsFactory: PrometheusMetricsFactory { factory }

    /// Runs `hook` at the start of every scrape, before the registry is rendered: for gauges read
    /// from the system at scrape time (process and clock state) rather than on a timer.
    public func onScrape(_ hook: @escaping @Sendable () -> Void) {
        scrapeHooks.withLockedValue { $0.append(hook) }
    }

    /// The Prometheus text exposition of every metric, after running the scrape hooks.
    public func emit(into buffer: inout [UInt8]) {
        for hook in scrapeHooks.withLockedValue({ $0 }) { hook() }
        registry.emit(into: &buffer)
    }
}
