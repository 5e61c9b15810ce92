import EpochCore
import Prometheus

/// The kernel's clock discipline as Prometheus gauges, set from a reading at every scrape, never
/// on a timer: the one producer of these gauges, for `epoch serve` (the shared `ClockState`,
/// `epoch_clock_*`) and for `epoch watch` (the node's own kernel, `epoch_watch_kernel_*`).
package enum ClockMetrics {
    /// The gauges' names and help texts; `status` nil leaves the status bits out.
    package struct Names: Sendable {
        var synchronized: (name: String, help: String)
        var maxError: (name: String, help: String)
        var estimatedError: (name: String, help: String)
        var status: (name: String, help: String)?
        var state: (name: String, help: String)

        /// node_exporter's timex names (`node_timex_sync_status`, `…_maxerror_seconds`,
        /// `…_estimated_error_seconds`, `…_status`) under an `epoch_clock_` prefix, so that existing
        /// alerts and dashboards translate by prefix.
        package static let server = Names(
            synchronized: (
                "epoch_clock_sync_status",
                "1 when the kernel clock is synchronized: adjtimex readable, maxerror below its 16 s cap (STA_UNSYNC does not decide)."
            ),
            maxError: ("epoch_clock_maxerror_seconds", "The kernel's maximum error of the clock (adjtimex maxerror)."),
            estimatedError: (
                "epoch_clock_estimated_error_seconds", "The kernel's estimated error of the clock (adjtimex esterror)."
            ),
            status: ("epoch_clock_status", "The kernel's clock status bits (STA_*; 64 is STA_UNSYNC)."),
            state: ("epoch_clock_state", "adjtimex's clock state: 0 TIME_OK ... 5 TIME_ERROR; -1 when unreadable."))

        /// `epoch watch`'s names, beside its per-source series (docs/watch.md).
        package static let watch = Names(
            synchronized: (
                "epoch_watch_kernel_synchronized",
                "1 when the node's kernel clock is synchronized: adjtimex readable, maxerror below its 16 s cap."
            ),
            maxError: ("epoch_watch_kernel_max_error_seconds", "The node kernel's maximum error of CLOCK_REALTIME."),
            estimatedError: (
                "epoch_watch_kernel_estimated_error_seconds", "The node kernel's estimated error of CLOCK_REALTIME."
            ),
            status: nil,
            state: (
                "epoch_watch_kernel_clock_state",
                "adjtimex's clock state: 0 TIME_OK, 1 INS, 2 DEL, 3 OOP, 4 WAIT, 5 TIME_ERROR; -1 unreadable."
            ))
    }

    /// `epoch serve`'s gauges, from the process's one `ClockState`.
    static func register(_ clock: ClockState, with metrics: ServerMetrics) {
        register(names: .server, with: metrics) { clock.discipline }
    }

    /// Gauges named `names` in `metrics`' registry, set from `read()` at every scrape.
    package static func register(
        names: Names, with metrics: ServerMetrics, read: @escaping @Sendable () -> ClockDiscipline
    ) {
        let gauge = { (name: String, help: String) in
            metrics.registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
        }
        let synchronized = gauge(names.synchronized.name, names.synchronized.help)
        let maxError = gauge(names.maxError.name, names.maxError.help)
        let estimatedError = gauge(names.estimatedError.name, names.estimatedError.help)
        let status = names.status.map { gauge($0.name, $0.help) }
        let state = gauge(names.state.name, names.state.help)
        metrics.onScrape {
            let reading = read()
            synchronized.set(reading.isSynchronized ? 1.0 : 0.0)
            maxError.set(Double(reading.maxErrorNanoseconds) / 1e9)
            estimatedError.set(Double(reading.estimatedErrorNanoseconds) / 1e9)
            status?.set(Double(reading.status))
            state.set(Double(reading.state?.rawValue ?? -1))
        }
    }
}
