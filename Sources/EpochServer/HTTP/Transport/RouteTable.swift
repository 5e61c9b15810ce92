import EpochCore
import NIOHTTP1

/// A route set erased to what connections need, with routes as small indices into `allCases`.
///
/// Built once per server, where the route set's type is concrete, so that the closures are
/// specialized, and the connection handler that NIO calls through its handler protocols is not
/// generic. When it was (`HTTPConnectionHandler<Routes>`), each request looked up generic and
/// tuple metadata at run time: ~5 % of the loop's time under `wrk` (perf, issue 10).
struct RouteTable: Sendable {
    let now: @Sendable () -> UnixNanoseconds
    /// The index of the route a request names: its path, negotiated by query and headers.
    let route: @Sendable (_ path: Substring, _ query: Substring, _ headers: HTTPHeaders) -> Int
    /// The `route` metric label of each index.
    let labels: [String]
    let response:
        @Sendable (
            _ method: HTTPMethod, _ route: Int, _ path: Substring, _ query: Substring, _ receivedAt: UnixNanoseconds
        ) -> Response
    let isCachedPerSecond: @Sendable (_ method: HTTPMethod, _ route: Int, _ path: Substring, _ query: Substring) -> Bool

    init<Routes: HTTPRoutes>(_ routes: Routes) {
        let all = Array(Routes.Route.allCases)
        labels = all.map(\.metricLabel)
        now = { routes.now() }
        route = { path, query, headers in
            let route = routes.route(path: path, query: query, headers: headers)
            return all.firstIndex(of: route) ?? 0
        }
        response = { method, route, path, query, receivedAt in
            routes.response(
                to: HTTPRequestSummary(
                    method: method, route: all[route], path: path, query: query, receivedAt: receivedAt))
        }
        isCachedPerSecond = { method, route, path, query in
            routes.isCachedPerSecond(
                HTTPRequestSummary(method: method, route: all[route], path: path, query: query, receivedAt: 0))
        }
    }
}
