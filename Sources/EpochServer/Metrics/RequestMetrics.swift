import NIOHTTP1
import Synchronization

/// The request metrics of one `{method, route, code}` series on one event loop: a count and a
/// duration histogram.
///
/// Written by its loop alone, read by scrapes from any thread. With a single writer a relaxed load
/// and store is an exact increment, and it compiles to plain moves: no lock and no locked
/// read-modify-write per request. (swift-prometheus's histogram takes a lock per observation, and
/// its counters one contended atomic add across loops; neither merges per-loop counts, so the
/// scrape adds these up and renders them itself, in `RequestMetricsExposition`.)
final class RequestSeriesCounts: Sendable {
    /// Upper bounds of the duration buckets, in nanoseconds, with their `le` labels.
    static let bucketBounds: [(nanoseconds: Int, label: String)] = [
        (50_000, "5e-05"), (100_000, "0.0001"), (250_000, "0.00025"), (500_000, "0.0005"),
        (1_000_000, "0.001"), (2_500_000, "0.0025"), (5_000_000, "0.005"), (10_000_000, "0.01"),
        (50_000_000, "0.05"),
    ]

    let requests = Atomic<Int>(0)
    let durationNanoseconds = Atomic<Int>(0)
    /// Per bucket (not cumulative; the last one is +Inf), summed cumulatively at render time.
    let buckets: InlineArray<10, Atomic<Int>> = InlineArray { _ in Atomic(0) }

    /// Counts one request that took `nanoseconds`. Only ever called on the series' own loop.
    @inline(__always)
    func record(nanoseconds: Int) {
        requests.store(requests.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        durationNanoseconds.store(durationNanoseconds.load(ordering: .relaxed) &+ nanoseconds, ordering: .relaxed)
        var index = 0
        while index < Self.bucketBounds.count && nanoseconds > Self.bucketBounds[index].nanoseconds { index += 1 }
        buckets[index].store(buckets[index].load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }
}

/// The labels of one request series, as they are exposed.
struct RequestLabels: Hashable, Comparable, Sendable {
    let method: String
    let route: String
    let code: UInt

    static func < (lhs: RequestLabels, rhs: RequestLabels) -> Bool {
        (lhs.route, lhs.method, lhs.code) < (rhs.route, rhs.method, rhs.code)
    }

    /// The method labels, a bounded set: a client can send any token as a method.
    static let methodLabels = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"]

    /// The index of `method`'s label in `methodLabels`.
    @inline(__always)
    static func methodIndex(_ method: HTTPMethod) -> UInt8 {
        switch method {
        case .GET: 0
        case .HEAD: 1
        case .POST: 2
        case .PUT: 3
        case .DELETE: 4
        case .PATCH: 5
        case .OPTIONS: 6
        case .CONNECT: 7
        case .TRACE: 8
        default: 9
        }
    }
}

/// One event loop's table of request series, looked up per request without a lock; a series is
/// registered with `ServerMetrics` (under its lock) only the first time this loop sees it.
final class LoopRequestMetrics {
    private struct Key: Hashable {
        let method: UInt8
        let route: Int
        let code: UInt
    }

    private let metrics: ServerMetrics
    private let routeLabels: [String]
    private var series: [Key: RequestSeriesCounts] = [:]
    /// The series of the previous request: the next one is usually the same (`GET /` 200), and
    /// comparing a key is cheaper than hashing it.
    private var lastKey: Key?
    private var lastCounts: RequestSeriesCounts?

    init(metrics: ServerMetrics, routeLabels: [String]) {
        self.metrics = metrics
        self.routeLabels = routeLabels
    }

    @inline(__always)
    func record(method: HTTPMethod, route: Int, code: UInt, nanoseconds: Int64) {
        let methodIndex = RequestLabels.methodIndex(method)
        let key = Key(method: methodIndex, route: route, code: code)
        let counts: RequestSeriesCounts
        if lastKey == key, let lastCounts {
            counts = lastCounts
        } else if let known = series[key] {
            counts = known
            lastKey = key
            lastCounts = known
        } else {
            let labels = RequestLabels(
                method: RequestLabels.methodLabels[Int(methodIndex)], route: routeLabels[route], code: code)
            counts = metrics.registerRequestSeries(labels)
            series[key] = counts
            lastKey = key
            lastCounts = counts
        }
        counts.record(nanoseconds: Int(nanoseconds))
    }
}
