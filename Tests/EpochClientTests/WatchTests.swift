import EpochClient
import EpochCore
import EpochServer
import EpochTestSupport
import Logging
import Prometheus
import Synchronization
import Testing

/// `epoch watch`'s loop measuring real servers on loopback.
@Suite struct WatchTests {
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    static let synchronized = ClockDiscipline(
        state: .ok, status: 0x2001, maxErrorNanoseconds: 3_000_000, estimatedErrorNanoseconds: 1_000)
    /// The sources' clocks say they are synchronized within 3 ms, so their bounds stay small.
    static var synchronizedClock: ClockState { ClockState(source: FixedClockDiscipline(synchronized)) }

    func makeWatch(ports: [Int], registry: PrometheusCollectorRegistry) throws -> ClockWatch {
        var options = SamplingOptions()
        options.samples = 3
        options.interval = .milliseconds(5)
        options.timeout = .seconds(2)
        let sources: [any ClockSource] = try ports.map {
            SyncSource(url: try ServiceURL(parsing: "http://127.0.0.1:\($0)"), options: options)
        }
        return ClockWatch(
            sources: sources, kinds: [:], interval: .seconds(1),
            metrics: WatchMetrics(registry: registry), logger: Self.logger)
    }

    /// A server 2 s ahead reads as +2 s within its bound; a port nobody listens on is down and
    /// counted, and the round goes on.
    @Test func measuresOffsetsAndCountsFailures() async throws {
        try await withTestServer(testConfiguration { $0.clockSkew = .seconds(2) }, clock: Self.synchronizedClock) {
            _, port in
            let registry = PrometheusCollectorRegistry()
            let closed = try await unusedPort()
            let watch = try makeWatch(ports: [port, closed], registry: registry)
            await watch.measureOnce()
            let text = registry.emitToString()
            let ahead = "source=\"http://127.0.0.1:\(port)\""
            let offset = try #require(sample(text, "epoch_watch_offset_seconds", ahead))
            let bound = try #require(sample(text, "epoch_watch_error_bound_seconds", ahead))
            #expect(abs(offset - 2) <= bound && bound < 0.05)
            #expect(sample(text, "epoch_watch_source_up", ahead) == 1)
            let down = "source=\"http://127.0.0.1:\(closed)\""
            #expect(sample(text, "epoch_watch_source_up", down) == 0)
            #expect(
                sample(
                    text, "epoch_watch_measurement_failures_total", down + ",kind=\"http-sync\",reason=\"unreachable\"")
                    == 1)
            #expect(sample(text, "epoch_watch_last_success_timestamp_seconds", down) == 0)
        }
    }

    /// Two servers on time and one 20 s ahead: the one ahead is the falseticker. The control is
    /// the same three with no skew: all agree.
    @Test(arguments: [(Duration.seconds(20), 1.0), (Duration.zero, 0.0)])
    func findsTheSourceThatDisagrees(skew: Duration, disagreeing: Double) async throws {
        try await withTestServer(clock: Self.synchronizedClock) { _, first in
            try await withTestServer(clock: Self.synchronizedClock) { _, second in
                try await withTestServer(testConfiguration { $0.clockSkew = skew }, clock: Self.synchronizedClock) {
                    _, skewed in
                    let registry = PrometheusCollectorRegistry()
                    try await makeWatch(ports: [first, second, skewed], registry: registry).measureOnce()
                    let text = registry.emitToString()
                    #expect(sample(text, "epoch_watch_sources_disagreeing", nil) == disagreeing)
                    #expect(sample(text, "epoch_watch_sources_agreeing", nil) == 3 - disagreeing)
                    #expect(
                        sample(text, "epoch_watch_source_agrees", "source=\"http://127.0.0.1:\(skewed)\"")
                            == 1 - disagreeing)
                }
            }
        }
    }
}

/// A source that answers what it is given: an unsynchronized server with its kernel's 16 s.
struct FixedSource: ClockSource {
    let name = "fixed://unsynchronized"
    func measure() async throws(SyncFailure) -> SourceMeasurement {
        SourceMeasurement(
            source: name, kind: .httpSync, offset: 2_000_000, errorBound: 16_000_500_000, sourceError: 16_000_000_000,
            sourceSynchronized: false, roundTrip: 1_000_000, samples: 4)
    }
}

@Suite struct WatchUnsynchronizedSourceTests {
    /// The source's own error is in the bound unless the lab flag takes it out; the control is the
    /// same source without the flag.
    @Test(arguments: [(false, 16.0005), (true, 0.0005)])
    func labFlagLeavesTheSourcesOwnErrorOut(allow: Bool, bound: Double) async throws {
        let registry = PrometheusCollectorRegistry()
        let watch = ClockWatch(
            sources: [FixedSource()], kinds: [:], interval: .seconds(1), metrics: WatchMetrics(registry: registry),
            logger: WatchTests.logger, allowUnsynchronizedSources: allow)
        await watch.measureOnce()
        let text = registry.emitToString()
        let labels = "source=\"fixed://unsynchronized\""
        #expect(sample(text, "epoch_watch_error_bound_seconds", labels) == bound)
        #expect(sample(text, "epoch_watch_source_error_seconds", labels) == 16)
        #expect(sample(text, "epoch_watch_source_synchronized", labels) == 0)
    }
}

/// The value of the first sample of `name` whose labels contain `labels` (nil: a series without
/// labels), from Prometheus text exposition.
func sample(_ text: String, _ name: String, _ labels: String?) -> Double? {
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        let parts = line.split(separator: " ")
        guard parts.count == 2 else { continue }
        let series = parts[0]
        if let labels {
            guard series.hasPrefix(name + "{"), series.contains(labels) else { continue }
        } else {
            guard series == name else { continue }
        }
        return Double(parts[1])
    }
    return nil
}

/// A loopback port that was free a moment ago (bound, read, closed).
func unusedPort() async throws -> Int {
    let configuration = testConfiguration()
    return try await withTestServer(configuration) { _, port in port }
}

/// A counter shared with the sources and clocks of a test.
final class SharedCount: Sendable {
    private let value = Mutex(0)
    func get() -> Int { value.withLock { $0 } }
    func set(_ new: Int) { value.withLock { $0 = new } }
    func increment() { value.withLock { $0 += 1 } }
}

/// A source with a fixed interval, or one that always fails and counts its attempts.
struct IntervalSource: ClockSource {
    let name: String
    let offset: Int64
    let bound: Int64
    var kind: SourceKind = .httpSync
    var attempts: SharedCount? = nil

    func measure() async throws(SyncFailure) -> SourceMeasurement {
        if let attempts {
            attempts.increment()
            throw .timedOut("\(name): no reply")
        }
        return SourceMeasurement(source: name, kind: kind, offset: offset, errorBound: bound, roundTrip: 1, samples: 1)
    }
}

@Suite struct WatchAgreementAndBackoffTests {
    func watch(
        _ sources: [IntervalSource], registry: PrometheusCollectorRegistry,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }, cap: Duration = .seconds(3600)
    ) -> ClockWatch {
        ClockWatch(
            sources: sources, kinds: Dictionary(uniqueKeysWithValues: sources.map { ($0.name, $0.kind) }),
            interval: .seconds(1), metrics: WatchMetrics(registry: registry),
            logger: WatchTests.logger, backoffCap: cap, now: now)
    }

    /// One against one is no majority, as in `check`: neither source agrees. The control: the same
    /// two overlapping, both agree.
    @Test(arguments: [(Int64(5_000_000_000), 0.0), (Int64(1_000_000), 1.0)])
    func aTieIsNoMajority(secondOffset: Int64, agrees: Double) async throws {
        let registry = PrometheusCollectorRegistry()
        let sources = [
            IntervalSource(name: "a://one", offset: 0, bound: 10_000_000),
            IntervalSource(name: "b://two", offset: secondOffset, bound: 10_000_000),
        ]
        await watch(sources, registry: registry).measureOnce()
        let text = registry.emitToString()
        #expect(sample(text, "epoch_watch_sources_agreeing", nil) == 2 * agrees)
        #expect(sample(text, "epoch_watch_sources_disagreeing", nil) == 2 - 2 * agrees)
        for source in sources {
            #expect(sample(text, "epoch_watch_source_agrees", "source=\"\(source.name)\"") == agrees)
        }
    }

    /// A dead Roughtime source is asked again after 1, 2, 4, 8 intervals, then every 8 (the cap
    /// here); the control is a dead HTTP source, asked every round.
    @Test func aDeadRoughtimeSourceBacksOffExponentiallyUpToTheCap() async throws {
        let start = ContinuousClock.now
        let round = SharedCount()
        let roughtime = IntervalSource(
            name: "roughtime://dead", offset: 0, bound: 0, kind: .roughtime, attempts: SharedCount())
        let http = IntervalSource(name: "http://dead", offset: 0, bound: 0, attempts: SharedCount())
        let watch = watch(
            [roughtime, http], registry: PrometheusCollectorRegistry(),
            now: { start + .seconds(round.get()) }, cap: .seconds(8))
        var attemptedRounds: [Int] = []
        for index in 0..<40 {
            round.set(index)
            let before = roughtime.attempts!.get()
            await watch.measureOnce()
            if roughtime.attempts!.get() > before { attemptedRounds.append(index) }
        }
        #expect(attemptedRounds == [0, 1, 3, 7, 15, 23, 31, 39])
        #expect(http.attempts!.get() == 40)
    }
}
