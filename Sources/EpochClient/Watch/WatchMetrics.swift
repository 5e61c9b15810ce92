import EpochCore
import NIOConcurrencyHelpers
import Prometheus

/// `epoch watch`'s series. Per-source series carry `source` (the URL as given) and `kind`; a
/// source's offset and bound keep their last measured value while `epoch_watch_source_up` is 0,
/// so alerts join on `source_up` rather than trusting a stale gauge.
public final class WatchMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let perSource: NIOLockedValueBox<[String: SourceSeries]> = NIOLockedValueBox([:])
    private let rounds: Counter
    private let measuredSources: Gauge
    private let agreeingSources: Gauge
    private let disagreeingSources: Gauge

    struct SourceSeries: Sendable {
        let offset: Gauge
        let errorBound: Gauge
        let roundTrip: Gauge
        let sourceError: Gauge
        let sourceSynchronized: Gauge
        let up: Gauge
        let agrees: Gauge
        let lastSuccess: Gauge
        let measurements: Counter
        let failures: [String: Counter]
    }

    /// The `reason` label values of `epoch_watch_measurement_failures_total`.
    public static let failureReasons = ["unreachable", "timed_out", "bad_answer", "inconsistent"]

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        rounds = registry.makeCounter(
            descriptor: .init(
                metricName: "epoch_watch_rounds_total", unitName: "",
                helpText: "Measurement rounds completed (every source measured once)."))
        measuredSources = registry.makeGauge(
            descriptor: .init(
                metricName: "epoch_watch_sources_measured", unitName: "",
                helpText: "Sources measured successfully in the last round."))
        agreeingSources = registry.makeGauge(
            descriptor: .init(
                metricName: "epoch_watch_sources_agreeing", unitName: "",
                helpText:
                    "Sources in the largest group whose offset intervals overlap (Marzullo), last round; 0 on a tie (no majority)."
            ))
        disagreeingSources = registry.makeGauge(
            descriptor: .init(
                metricName: "epoch_watch_sources_disagreeing", unitName: "",
                helpText: "Measured sources not in a majority group (all of them on a tie), last round."))
    }

    /// Creates a source's series at start-up, so that they exist (down, never succeeded) before
    /// the first round ends.
    public func declare(source: String, kind: SourceKind) {
        _ = series(source: source, kind: kind)
    }

    func series(source: String, kind: SourceKind) -> SourceSeries {
        perSource.withLockedValue { table in
            if let series = table[source] { return series }
            let labels = [("source", source), ("kind", kind.rawValue)]
            var failures: [String: Counter] = [:]
            for reason in Self.failureReasons {
                failures[reason] = registry.makeCounter(
                    descriptor: .init(
                        metricName: "epoch_watch_measurement_failures_total", unitName: "",
                        helpText: "Measurements of a source that failed, by reason."),
                    labels: labels + [("reason", reason)])
            }
            let series = SourceSeries(
                offset: registry.makeGauge(
                    descriptor: .init(
                        metricName: "epoch_watch_offset_seconds", unitName: "",
                        helpText: "The source's clock minus this node's (positive: this node is behind), last success."),
                    labels: labels),
                errorBound: registry.makeGauge(
                    descriptor: .init(
                        metricName: "epoch_watch_error_bound_seconds", unitName: "",
                        helpText:
                            "The true offset lies within offset ± this bound (network, resolution, the source's own error)."
                    ), labels: labels),
                roundTrip: registry.makeGauge(
                    descriptor: .init(
                        metricName: "epoch_watch_round_trip_seconds", unitName: "",
                        helpText: "Round trip of the exchange the offset comes from, last success."), labels: labels),
                sourceError: registry.makeGauge(
                    descriptor: .init(
                        metricName: "epoch_watch_source_error_seconds", unitName: "",
                        helpText:
                            "The error the source reports for its own clock (its kernel's max error), last success."),
                    labels: labels),
                sourceSynchronized: registry.makeGauge(
                    descriptor: .init(
                        metricName: "epoch_watch_source_synchronized", unitName: "",
                        helpText:
                            "1 when the source says its clock is synchronized, 0 when it says not, -1 when it does not say."
                    ),
                    labels: labels),
                up: registry.makeGauge(
                    descriptor: .init(
                        metricName: "epoch_watch_source_up", unitName: "",
                        helpText: "1 when the last measurement of the source succeeded."), labels: labels),
                agrees: registry.makeGauge(
                    descriptor: .init(
                        metricName: "epoch_watch_source_agrees", unitName: "",
                        helpText:
                            "1 when the source was measured and is in the agreeing majority in the last round (0 for all on a tie)."
                    ),
                    labels: labels),
                lastSuccess: registry.makeGauge(
                    descriptor: .init(
                        metricName: "epoch_watch_last_success_timestamp_seconds", unitName: "",
                        helpText: "Unix time of the source's last successful measurement (0: never)."), labels: labels),
                measurements: registry.makeCounter(
                    descriptor: .init(
                        metricName: "epoch_watch_measurements_total", unitName: "",
                        helpText: "Measurements of a source attempted."), labels: labels),
                failures: failures)
            table[source] = series
            return series
        }
    }

    func recordSuccess(_ measurement: SourceMeasurement, at time: UnixNanoseconds, kind: SourceKind) {
        let series = series(source: measurement.source, kind: kind)
        series.measurements.increment()
        series.offset.set(to: Double(measurement.offset) / 1e9)
        series.errorBound.set(to: Double(measurement.errorBound) / 1e9)
        series.roundTrip.set(to: Double(measurement.roundTrip) / 1e9)
        series.sourceError.set(to: Double(measurement.sourceError ?? 0) / 1e9)
        series.sourceSynchronized.set(to: measurement.sourceSynchronized.map { $0 ? 1 : 0 } ?? -1)
        series.up.set(to: 1)
        series.lastSuccess.set(to: Double(time) / 1e9)
    }

    func recordFailure(source: String, kind: SourceKind, reason: String) {
        let series = series(source: source, kind: kind)
        series.measurements.increment()
        series.failures[reason]?.increment()
        series.up.set(to: 0)
        series.agrees.set(to: 0)
    }

    func recordAgreement(_ agreement: SourceAgreement, kinds: [String: SourceKind]) {
        rounds.increment()
        measuredSources.set(to: Double(agreement.agreeing.count + agreement.disagreeing.count))
        // A tie is no majority: no group is trusted, so no source "agrees".
        let trusted = Set(agreement.trusted)
        let all = agreement.agreeing + agreement.disagreeing
        agreeingSources.set(to: Double(trusted.count))
        disagreeingSources.set(to: Double(all.count - trusted.count))
        for source in all {
            series(source: source, kind: kinds[source] ?? .httpSync).agrees.set(to: trusted.contains(source) ? 1 : 0)
        }
    }
}
