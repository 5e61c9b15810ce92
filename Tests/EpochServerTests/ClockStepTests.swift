import EpochCore
import EpochTestSupport
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

@testable import EpochServer

/// A wall clock a test sets by hand.
final class ManualClock: Sendable {
    private let nanoseconds: Atomic<Int64>

    init(_ start: UnixNanoseconds) { nanoseconds = Atomic(start) }

    var now: UnixNanoseconds { nanoseconds.load(ordering: .relaxed) }

    func set(_ value: UnixNanoseconds) { nanoseconds.store(value, ordering: .relaxed) }
}

/// The epoch routes on an injected clock: also a route set of the kind other commands serve.
struct ManuallyClockedEpoch: HTTPRoutes {
    let application: EpochApplication
    let clock: ManualClock

    func now() -> UnixNanoseconds { clock.now }
    func response(to request: HTTPRequestSummary<EpochRoute>) -> Response { application.response(to: request) }
    func isCachedPerSecond(_ request: HTTPRequestSummary<EpochRoute>) -> Bool { application.isCachedPerSecond(request) }
}

/// Runs `routes` on a real `HTTPServer` on a loopback port for the duration of `body`.
func withHTTPServer<Routes: HTTPRoutes, Result: Sendable>(
    _ routes: Routes, configuration: ServerConfiguration = testConfiguration(),
    _ body: @Sendable (Int) async throws -> Result
) async throws -> Result {
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    let server = HTTPServer(configuration: configuration, routes: routes, logger: logger)
    return try await withRunningService(server, bound: server.boundAddress, logger: logger) { _, port in
        try await body(port)
    }
}

@Suite struct ClockStepTests {
    static let start: UnixNanoseconds = 1_800_000_000_250_000_000
    static let second: Int64 = 1_000_000_000

    func epochRoutes(_ clock: ManualClock) -> ManuallyClockedEpoch {
        let configuration = testConfiguration()
        let application = EpochApplication(
            configuration: configuration, readiness: Readiness(), metrics: ServerMetrics(),
            clockState: ClockState())
        return ManuallyClockedEpoch(application: application, clock: clock)
    }

    @Test func getFollowsAClockStepBackOnTheNextRequest() async throws {
        let clock = ManualClock(Self.start)
        try await withHTTPServer(epochRoutes(clock)) { port in
            try await RawConnection.with(port: port) { connection in
                let before = try await connection.readResponse(get("/"))
                #expect(before.body.contains(#""data":1800000000,"#))
                #expect(before.header("date") == httpDate(unixSeconds: 1_800_000_000))
                clock.set(Self.start - 10 * Self.second)
                let after = try await connection.readResponse(get("/"))
                #expect(after.body.contains(#""data":1799999990,"#))
                #expect(after.header("date") == httpDate(unixSeconds: 1_799_999_990))
                // And forward again, back past the second it had cached.
                clock.set(Self.start + Self.second)
                #expect(try await connection.readResponse(get("/")).body.contains(#""data":1800000001,"#))
            }
        }
    }

    /// The cache moves back only when the clock is behind it, not when one request was decoded
    /// just before the tick and answered after another loop's request moved the cache on.
    @Test func aRequestStampedJustBeforeTheTickKeepsTheNewSecond() {
        let cache = SecondCache()
        cache.follow(receivedAt: Self.start + Self.second, now: { Self.start + Self.second })
        #expect(cache.second == 1_800_000_001)
        cache.follow(receivedAt: Self.start + Self.second - 300_000_000, now: { Self.start + Self.second + 1000 })
        #expect(cache.second == 1_800_000_001)
        cache.follow(receivedAt: Self.start - 10 * Self.second, now: { Self.start - 10 * Self.second })
        #expect(cache.second == 1_799_999_990)
    }
}
