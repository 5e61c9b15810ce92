import EpochCore
import NIOHTTP1

/// A bounded set of paths a route set answers. Metrics label requests by route, never by raw
/// path, so that a scanner probing random URLs cannot create unbounded time series.
package protocol HTTPRoute: Hashable, Sendable, CaseIterable {
    /// The route a request target's path (without its query) names; unknown paths map to one
    /// catch-all case.
    init(path: Substring)
    /// The `route` label of this route's request metrics.
    var metricLabel: String { get }
}

/// What the server hands a route set about one complete request: no headers and no body (no
/// route takes one). Only valid during the call it is passed to.
package struct HTTPRequestSummary<Route: HTTPRoute>: Sendable {
    package var method: HTTPMethod
    package var route: Route
    /// The target's path, `/sync` of `/sync?t1=5` (absolute-form targets are reduced to it).
    package var path: Substring
    /// The target's query without `?`, empty when there is none.
    package var query: Substring
    /// When the request head was decoded, by the route set's own clock (`now()`).
    package var receivedAt: UnixNanoseconds

    package init(method: HTTPMethod, route: Route, path: Substring, query: Substring, receivedAt: UnixNanoseconds) {
        self.method = method
        self.route = route
        self.path = path
        self.query = query
        self.receivedAt = receivedAt
    }
}

/// The routes one HTTP server answers: `HTTPServer` runs the connections (NIO's request decoder,
/// limits, deadlines, keep-alive, backpressure, metrics) and asks a conformer only for responses.
///
/// Every method is called on an event loop, for every request: keep them quick and non-blocking.
package protocol HTTPRoutes: Sendable {
    associatedtype Route: HTTPRoute

    /// The clock requests are stamped with (`receivedAt`), also the one the per-second cache and
    /// the `Date` header follow.
    func now() -> UnixNanoseconds

    /// The route of a request: by default the one its path names. A route set that serves one
    /// path in several representations picks the route by headers or query here (content
    /// negotiation); keep it cheap for requests that do not ask for another representation.
    func route(path: Substring, query: Substring, headers: HTTPHeaders) -> Route

    /// The response to a complete request (the server answers HTTP/1.1 without Host itself).
    func response(to request: HTTPRequestSummary<Route>) -> Response

    /// Whether every request like this one gets the same response within one second of `now()`:
    /// the server then encodes it once per second per event loop, from a request stamped with the
    /// start of its second, and serves those bytes. `receivedAt` is 0 in this call: the answer
    /// must not depend on it. Default: never.
    func isCachedPerSecond(_ request: HTTPRequestSummary<Route>) -> Bool
}

extension HTTPRoutes {
    package func route(path: Substring, query: Substring, headers: HTTPHeaders) -> Route { Route(path: path) }

    package func isCachedPerSecond(_ request: HTTPRequestSummary<Route>) -> Bool { false }
}
