import EpochClient
import EpochCore
import EpochServer
import NIOCore

/// The paths `epoch watch` answers: its metrics and its liveness, nothing of the time service.
enum WatchRoute: String, HTTPRoute {
    case metrics = "/metrics"
    case healthz = "/healthz"
    case unknown = "other"

    init(path: Substring) { self = WatchRoute(rawValue: String(path)) ?? .unknown }

    var metricLabel: String { rawValue }
}

/// `epoch watch`'s route set, served by the same HTTP layer as `epoch serve` (limits, deadlines,
/// request metrics).
struct WatchRoutes: HTTPRoutes {
    let watch: ClockWatch
    let metrics: ServerMetrics
    private let allocator = ByteBufferAllocator()

    func now() -> UnixNanoseconds { WallClock().now() }

    func response(to request: HTTPRequestSummary<WatchRoute>) -> Response {
        guard request.method == .GET || request.method == .HEAD else {
            var response = Response.error(
                .methodNotAllowed, "method \(request.method.rawValue) is not allowed; use GET or HEAD",
                allocator: allocator)
            response.extraHeaders.append(("allow", "GET, HEAD"))
            return response
        }
        switch request.route {
        case .metrics:
            return .metrics(metrics, allocator: allocator)
        case .healthz:
            // Failed measurements are the sources' trouble, shown in /metrics; only a loop that
            // stopped making rounds is this process's, and a restart is its cure.
            return watch.isMakingProgress
                ? .json(.ok, Payload.status("ok"), allocator: allocator)
                : .json(.serviceUnavailable, Payload.status("stalled"), allocator: allocator)
        case .unknown:
            return .error(.notFound, "no such path; try /metrics or /healthz", allocator: allocator)
        }
    }
}
