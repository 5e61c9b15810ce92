import EpochCore
import NIOCore
import NIOHTTP1

/// What answers requests, independent of connections: routing and the payload of each route.
/// Immutable and shared by every connection; `HTTPServer` runs it.
package struct EpochApplication: HTTPRoutes {
    let configuration: ServerConfiguration
    let clock: WallClock
    let readiness: Readiness
    let metrics: ServerMetrics
    /// The process's one reading of the kernel clock's discipline.
    let clockState: ClockState
    /// `/` for browsers.
    let page: PageOnFirstUse
    private let allocator = ByteBufferAllocator()
    private static let allowedMethods = "GET, HEAD"

    init(configuration: ServerConfiguration, readiness: Readiness, metrics: ServerMetrics, clockState: ClockState) {
        self.configuration = configuration
        self.clock = WallClock(skew: configuration.clockSkew)
        self.readiness = readiness
        self.metrics = metrics
        self.clockState = clockState
        self.page = PageOnFirstUse(host: configuration.hostname, rev: configuration.revision)
    }

    package func now() -> UnixNanoseconds { clock.now() }

    package func response(to request: HTTPRequestSummary<EpochRoute>) -> Response {
        response(route: request.route, method: request.method, query: request.query, receivedAt: request.receivedAt)
    }

    /// `GET /` and `HEAD /` in seconds, and the page: the same bytes all second long.
    package func isCachedPerSecond(_ request: HTTPRequestSummary<EpochRoute>) -> Bool {
        (request.route == .epoch || request.route == .page) && request.query.isEmpty
            && (request.method == .GET || request.method == .HEAD)
    }

    /// The response to a request; `receivedAt` is when the request head was decoded (t2 of `/sync`).
    func response(route: EpochRoute, method: HTTPMethod, query: Substring, receivedAt: UnixNanoseconds) -> Response {
        guard method == .GET || method == .HEAD else {
            var response = error(.methodNotAllowed, "method \(method.rawValue) is not allowed; use GET or HEAD")
            response.extraHeaders.append(("allow", Self.allowedMethods))
            return response
        }
        switch route {
        case .epoch, .sync:
            let parsed: Query
            do {
                parsed = try Query(parsing: query)
            } catch {
                return self.error(.badRequest, error.description)
            }
            guard route == .sync else {
                let body = Payload.epoch(
                    host: configuration.hostname, time: receivedAt, unit: parsed.unit, rev: configuration.revision)
                return json(.ok, body)
            }
            let t3 = clock.now()
            return json(
                .ok,
                Payload.sync(
                    t1: parsed.t1, t2: receivedAt, t3: t3, clock: clockState.discipline, rev: configuration.revision))
        case .page:
            return pageResponse(query: query, receivedAt: receivedAt)
        case .clock:
            return json(.ok, Payload.clock(clockState.discipline))
        case .healthz:
            return json(.ok, Payload.status("ok"))
        case .readyz:
            if readiness.isDraining { return json(.serviceUnavailable, Payload.status("draining")) }
            if readiness.isStarting { return json(.serviceUnavailable, Payload.status("starting")) }
            if configuration.requireSynchronizedClock {
                let reading = clockState.discipline
                if !reading.isSynchronized {
                    return json(.serviceUnavailable, Payload.notReady("clock unsynchronized", reason: reading.reason))
                }
            }
            return json(.ok, Payload.status("ready"))
        case .version:
            return json(
                .ok,
                Payload.version(
                    version: configuration.version, rev: configuration.revision, swift: configuration.swiftVersion))
        case .metrics:
            return .metrics(metrics, allocator: allocator)
        case .unknown:
            return error(.notFound, "no such path; try / , /sync, /clock, /healthz, /readyz, /version or /metrics")
        }
    }

    private func json(_ status: HTTPResponseStatus, _ text: String) -> Response {
        .json(status, text, allocator: allocator)
    }

    private func error(_ status: HTTPResponseStatus, _ message: String) -> Response {
        .error(status, message, allocator: allocator)
    }
}
