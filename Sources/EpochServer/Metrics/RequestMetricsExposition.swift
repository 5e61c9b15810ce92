/// Renders the per-loop request series, added up across loops, in the Prometheus text format
/// (version 0.0.4). Every label value is a server constant (route labels, a bounded method set,
/// status codes), so none needs escaping.
enum RequestMetricsExposition {
    static func render(
        _ series: [(labels: RequestLabels, counts: RequestSeriesCounts)], aliases: [RouteCountAlias],
        into buffer: inout [UInt8]
    ) {
        var requests: [RequestLabels: Int] = [:]
        var durations: [String: (buckets: [Int], sum: Int, count: Int)] = [:]
        let bucketCount = RequestSeriesCounts.bucketBounds.count + 1
        for (labels, counts) in series {
            let count = counts.requests.load(ordering: .relaxed)
            requests[labels, default: 0] += count
            var entry = durations[labels.route] ?? (Array(repeating: 0, count: bucketCount), 0, 0)
            for index in 0..<bucketCount { entry.buckets[index] += counts.buckets[index].load(ordering: .relaxed) }
            entry.sum += counts.durationNanoseconds.load(ordering: .relaxed)
            entry.count += count
            durations[labels.route] = entry
        }
        var text = ""
        text += "# HELP http_requests_total HTTP requests answered, by method, route and status code.\n"
        text += "# TYPE http_requests_total counter\n"
        for labels in requests.keys.sorted() {
            text +=
                "http_requests_total{method=\"\(labels.method)\",route=\"\(labels.route)\",code=\"\(labels.code)\"} "
                + "\(requests[labels]!)\n"
        }
        text += "# HELP http_request_duration_seconds From a request's head decoded to its response written.\n"
        text += "# TYPE http_request_duration_seconds histogram\n"
        for route in durations.keys.sorted() {
            let entry = durations[route]!
            var cumulative = 0
            for index in 0..<bucketCount {
                cumulative += entry.buckets[index]
                let bound =
                    index < RequestSeriesCounts.bucketBounds.count
                    ? RequestSeriesCounts.bucketBounds[index].label : "+Inf"
                text += "http_request_duration_seconds_bucket{route=\"\(route)\",le=\"\(bound)\"} \(cumulative)\n"
            }
            text += "http_request_duration_seconds_sum{route=\"\(route)\"} \(Double(entry.sum) / 1e9)\n"
            text += "http_request_duration_seconds_count{route=\"\(route)\"} \(entry.count)\n"
        }
        for alias in aliases {
            let total = requests.filter { $0.key.route == alias.route }.values.reduce(0, +)
            text += "# HELP \(alias.name) \(alias.help)\n# TYPE \(alias.name) counter\n\(alias.name) \(total)\n"
        }
        buffer.append(contentsOf: text.utf8)
    }
}

/// A counter of every request to one route under a name of its own (go-microepoch's
/// `epoch_request_count` of `/`, kept by name for its dashboards).
struct RouteCountAlias: Sendable {
    let route: String
    let name: String
    let help: String
}
