import EpochCore
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// `epoch watch`'s loop as a swift-service-lifecycle `Service`: every `interval` it measures each
/// source once, all at the same time, and records offsets, bounds, failures and agreement.
///
/// A failing source never stops the loop: it is one counter increment and one log line.
public final class ClockWatch: Service, Sendable {
    public let sources: [any ClockSource]
    public let interval: Duration
    private let kinds: [String: SourceKind]
    private let metrics: WatchMetrics
    private let logger: Logger
    private let allowUnsynchronizedSources: Bool
    private let clock = WallClock()
    /// When the loop last made progress (started, or ended a round): what `/healthz` judges.
    private let lastProgress = NIOLockedValueBox(ContinuousClock.now)
    /// Failing Roughtime sources are asked again only after their backoff (`RetryBackoff`).
    private let backoffs: NIOLockedValueBox<[String: (backoff: RetryBackoff, notBefore: ContinuousClock.Instant)]>
    private let now: @Sendable () -> ContinuousClock.Instant
    /// The longest a failing Roughtime source waits between attempts.
    public static let roughtimeBackoffCap: Duration = .seconds(3600)

    /// `kinds` names each source's kind for the series' `kind` label before its first answer.
    /// `allowUnsynchronizedSources` leaves a source's own error out of the bound while the source
    /// says its clock is unsynchronized (labs and tests, whose servers nobody disciplines; an
    /// undisciplined kernel reports 16 s, which would fire every TOTP alert).
    public init(
        sources: [any ClockSource], kinds: [String: SourceKind], interval: Duration,
        metrics: WatchMetrics, logger: Logger,
        allowUnsynchronizedSources: Bool = false, backoffCap: Duration = roughtimeBackoffCap,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.allowUnsynchronizedSources = allowUnsynchronizedSources
        self.now = now
        self.backoffs = NIOLockedValueBox(
            Dictionary(
                uniqueKeysWithValues: sources.filter { kinds[$0.name] == .roughtime }.map {
                    ($0.name, (RetryBackoff(base: interval, cap: backoffCap), now()))
                }))
        self.sources = sources
        self.kinds = kinds
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
        for source in sources { metrics.declare(source: source.name, kind: kinds[source.name] ?? .httpSync) }
    }

    /// Whether a round ended recently: within three intervals plus 30 s for a round's own
    /// exchanges (each source's timeout is far less). A wedged loop fails the liveness probe.
    public var isMakingProgress: Bool {
        ContinuousClock.now - lastProgress.withLockedValue { $0 } <= interval * 3 + .seconds(30)
    }

    public func run() async throws {
        lastProgress.withLockedValue { $0 = .now }
        logger.info(
            "watching",
            metadata: ["sources": .array(sources.map { .string($0.name) }), "interval": "\(formatDuration(interval))"])
        await cancelWhenGracefulShutdown {
            let clock = ContinuousClock()
            var next = clock.now
            while !Task.isCancelled {
                _ = await self.measureOnce()
                next += self.interval
                // A round longer than the interval starts the next at once rather than queueing.
                if next < clock.now { next = clock.now }
                do { try await Task.sleep(until: next, clock: clock) } catch { break }
            }
        }
        logger.info("stopped watching")
    }

    /// One round: every source measured concurrently, then the agreement of those that answered.
    @discardableResult
    public func measureOnce() async -> SourceAgreement {
        let roundStart = now()
        let due = Set(
            backoffs.withLockedValue { table in
                sources.map(\.name).filter { table[$0].map { $0.notBefore <= roundStart } ?? true }
            })
        let outcomes = await withTaskGroup(of: (String, Result<SourceMeasurement, SyncFailure>).self) { group in
            for source in sources where due.contains(source.name) {
                group.addTask {
                    do throws(SyncFailure) {
                        return (source.name, .success(try await source.measure()))
                    } catch {
                        return (source.name, .failure(error))
                    }
                }
            }
            var outcomes: [String: Result<SourceMeasurement, SyncFailure>] = [:]
            for await (name, outcome) in group { outcomes[name] = outcome }
            return outcomes
        }
        backoffs.withLockedValue { table in
            for (name, outcome) in outcomes {
                guard var entry = table[name] else { continue }
                if case .success = outcome { entry.backoff.recordSuccess() } else { entry.backoff.recordFailure() }
                // Half an interval early, so that a round starting a little before its time still counts.
                entry.notBefore = roundStart + entry.backoff.delay - interval / 2
                table[name] = entry
            }
        }
        var intervals: [OffsetInterval] = []
        for source in sources {
            let kind = kinds[source.name] ?? .httpSync
            switch outcomes[source.name] {
            case .success(var measurement):
                if allowUnsynchronizedSources, measurement.sourceSynchronized == false,
                    let ownError = measurement.sourceError
                {
                    measurement.errorBound = max(0, measurement.errorBound - ownError)
                }
                metrics.recordSuccess(measurement, at: clock.now(), kind: kind)
                intervals.append(measurement.interval)
                logger.debug(
                    "measured",
                    metadata: [
                        "source": "\(source.name)", "offset-ns": "\(measurement.offset)",
                        "bound-ns": "\(measurement.errorBound)",
                    ])
            case .failure(let failure):
                metrics.recordFailure(source: source.name, kind: kind, reason: Self.reason(failure))
                logger.warning(
                    "measurement failed",
                    metadata: ["source": "\(source.name)", "reason": "\(Self.reason(failure))", "error": "\(failure)"])
            case nil:
                logger.debug("backing off", metadata: ["source": "\(source.name)"])
            }
        }
        let agreement = SourceAgreement(intervals)
        metrics.recordAgreement(agreement, kinds: kinds)
        lastProgress.withLockedValue { $0 = .now }
        if !agreement.disagreeing.isEmpty {
            logger.warning(
                agreement.hasMajority ? "sources disagree" : "sources disagree and no majority agrees",
                metadata: [
                    "agreeing": .array(agreement.agreeing.map { .string($0) }),
                    "disagreeing": .array(agreement.disagreeing.map { .string($0) }),
                ])
        }
        return agreement
    }

    static func reason(_ failure: SyncFailure) -> String {
        switch failure {
        case .unreachable: "unreachable"
        case .timedOut: "timed_out"
        case .badAnswer: "bad_answer"
        case .inconsistent: "inconsistent"
        }
    }
}
