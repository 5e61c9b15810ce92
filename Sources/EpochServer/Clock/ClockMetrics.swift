import EpochCore
import Prometheus

/// The clock discipline as Prometheus gauges, named after node_exporter's timex collector
/// (`node_timex_sync_status`, `…_maxerror_seconds`, `…_estimated_error_seconds`, `…_status`) under
/// an `epoch_clock_` prefix, so that existing alerts and dashboards translate by prefix. They are
/// set from the shared `ClockState` when scraped, never on a timer.
enum ClockMetrics {
    static func register(_ clock: ClockState, with metrics: ServerMetrics) {
        let gauge = { (name: String, unit: String, help: String) in
            metrics.registry.makeGauge(
                descriptor: MetricNameDescriptor(
                    namespace: "epoch", subsystem: "clock", metricName: name, unitName: unit, helpText: help))
        }
        let synchronized = gauge(
            "sync", "status",
            "1 when the kernel clock is synchronized: adjtimex readable, maxerror below its 16 s cap (STA_UNSYNC does not decide)."
        )
        let maxError = gauge("maxerror", "seconds", "The kernel's maximum error of the clock (adjtimex maxerror).")
        let estimatedError = gauge(
            "estimated_error", "seconds", "The kernel's estimated error of the clock (adjtimex esterror).")
        let status = gauge("status", "", "The kernel's clock status bits (STA_*; 64 is STA_UNSYNC).")
        let state = gauge("state", "", "adjtimex's clock state: 0 TIME_OK ... 5 TIME_ERROR; -1 when unreadable.")
        metrics.onScrape {
            let reading = clock.discipline
            synchronized.set(reading.isSynchronized ? 1.0 : 0.0)
            maxError.set(Double(reading.maxErrorNanoseconds) / 1e9)
            estimatedError.set(Double(reading.estimatedErrorNanoseconds) / 1e9)
            status.set(Double(reading.status))
            state.set(Double(reading.state?.rawValue ?? -1))
        }
    }
}
