import Prometheus

/// `epoch_build_info{version,rev,swift} 1`: the info-metric convention (as `go_build_info` and
/// kube-state-metrics do), so that a query can join any series with the build that produced it.
package enum BuildInfoMetric {
    package static func register(
        in registry: PrometheusCollectorRegistry, version: String, revision: String, swift: String
    ) {
        registry.makeGauge(
            descriptor: .init(
                metricName: "epoch_build_info", unitName: "",
                helpText: "Always 1; the labels say which build is running."),
            labels: [("version", version), ("rev", revision), ("swift", swift)]
        ).set(to: 1)
    }
}
