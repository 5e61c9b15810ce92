/// The paths the service answers. Metrics label requests by route, never by raw path, so that a
/// scanner probing random URLs cannot create unbounded time series.
package enum EpochRoute: String, HTTPRoute, CaseIterable {
    case epoch = "/"
    /// `/` as the page for browsers (`EpochPage`): chosen by negotiation, never by a path (a
    /// request target holds no space).
    case page = "/ (html)"
    case sync = "/sync"
    case clock = "/clock"
    case healthz = "/healthz"
    case readyz = "/readyz"
    case version = "/version"
    case metrics = "/metrics"
    case unknown = "other"

    package init(path: Substring) {
        self = EpochRoute(rawValue: String(path)) ?? .unknown
    }

    package var metricLabel: String { rawValue }
}
