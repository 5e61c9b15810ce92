import EpochCore
import NIOHTTP1

/// Measures a server that only reports whole seconds, to about a round trip instead of ±1 s.
///
/// Each answer confines the offset to an interval about 1 s wide (`WholeSecondSample.allowed`);
/// the sampler intersects them, and times each round of probes so that they reach the server just
/// as its clock crosses a second for evenly spread candidate offsets (`WholeSecondSchedule`), the
/// phase search htpdate does. Sampling stops when the interval is about two round trips wide, when
/// a round no longer narrows it, or before a round that would end after the budget.
struct WholeSecondSampler {
    /// Where the server's second is read from.
    enum Reading {
        /// go-microepoch's `GET /` JSON, `data` in seconds.
        case epochJSON
        /// The HTTP `Date` header of any response.
        case dateHeader
    }

    let url: ServiceURL
    let path: String
    let method: HTTPMethod
    let reading: Reading
    let clock: WallClock
    let budget: Duration
    let started: ContinuousClock.Instant
    private(set) var interval: WholeSecondInterval?
    private(set) var revision: String?
    private var roundTrips: [Int64] = []
    /// t1 of the first sample, with the monotonic clocks: what later samples' widening is measured from.
    private var firstSent: PairedClockReading?

    init(
        url: ServiceURL, path: String, method: HTTPMethod, reading: Reading, clock: WallClock, budget: Duration,
        started: ContinuousClock.Instant
    ) {
        (self.url, self.path, self.method, self.reading) = (url, path, method, reading)
        (self.clock, self.budget, self.started) = (clock, budget, started)
    }

    private var location: String { "\(url)\(path == "/" ? "" : path)" }

    mutating func run(_ connection: inout Exchanges) async throws -> SyncResult {
        if interval == nil { try await probe(&connection) }
        let deadline = started + budget
        while let current = interval {
            // The typical round trip, not the best: on a loaded machine most probes take longer,
            // and pieces narrower than a probe's round trip cannot be told apart.
            let roundTrip = max(roundTrips.sorted()[roundTrips.count / 2], 100_000)
            guard current.width > 2 * roundTrip else { break }
            let now = clock.now()
            let times = WholeSecondSchedule.round(
                over: current.allowed,
                count: WholeSecondSchedule.probeCount(width: current.width, roundTrip: roundTrip),
                roundTrip: roundTrip, earliest: now + 1_000_000)
            guard ContinuousClock.now + .nanoseconds(times.last! - now + 2 * roundTrip) < deadline else { break }
            for time in times {
                let wait = time - clock.now()
                if wait > 0 { try await Task.sleep(for: .nanoseconds(wait)) }
                try await probe(&connection)
            }
            // A round that narrowed less than 10 % will not be helped by another.
            guard interval!.width * 10 < current.width * 9 else { break }
        }
        return SyncResult(
            url: url, kind: reading == .dateHeader ? .dateHeader : .wholeSeconds,
            estimate: interval!.estimate,
            serverRevision: revision, serverClock: nil, elapsed: ContinuousClock.now - started)
    }

    /// One exchange, narrowing the interval.
    private mutating func probe(_ connection: inout Exchanges) async throws {
        let timed = try await connection.send(path, method: method)
        let second: Int64
        var answeredRevision: String?
        switch reading {
        case .dateHeader:
            guard let value = timed.response.head.headers.first(name: "date") else {
                throw SyncFailure.badAnswer(
                    "\(location) answered HTTP \(timed.response.head.status.code) without a Date header")
            }
            guard let parsed = parseHTTPDate(Substring(value)) else {
                throw SyncFailure.badAnswer(
                    "\(location) sent a Date header that is not an IMF-fixdate: \(jsonStringLiteral(String(value.prefix(80))))"
                )
            }
            second = parsed
        case .epochJSON:
            guard timed.response.head.status == .ok else {
                throw SyncFailure.badAnswer("\(location) answered HTTP \(timed.response.head.status.code)")
            }
            let body = timed.response.body.map { Array($0.readableBytesView) } ?? []
            guard case .wholeSeconds(let answer) = try Answer.parse(body, from: location) else {
                throw SyncFailure.badAnswer("\(location) answered /sync's shape where whole seconds were expected")
            }
            second = answer.data
            answeredRevision = answer.rev
        }
        try add(timed, second: second, revision: answeredRevision, location: location)
    }

    /// Adds one timed answer, widened by the drift since the first (`WholeSecondSample.widening`).
    mutating func add(_ timed: TimedResponse, second: Int64, revision: String?, location: String) throws(SyncFailure) {
        let first = firstSent ?? timed.sent
        if firstSent == nil { firstSent = timed.sent }
        // The far end of this exchange from the first sample's send, on the raw clock.
        let widening = WholeSecondSample.widening(
            distance: timed.received.monotonicRaw - first.monotonicRaw, slew: timed.received.slew(since: first))
        try add(
            t1: timed.sentAt, t4: timed.receivedAt, second: second, revision: revision, location: location,
            widening: widening)
    }

    /// Adds one answer; the error names the contradiction in one line.
    mutating func add(
        t1: Int64, t4: Int64, second: Int64, revision: String?, location: String, widening: Int64 = 0
    ) throws(SyncFailure) {
        let sample = WholeSecondSample(t1: t1, t4: t4, serverSecond: second, widening: widening)
        do {
            if interval == nil { interval = try WholeSecondInterval(sample) } else { try interval!.add(sample) }
        } catch .impossibleSecond {
            throw .badAnswer("\(location) answered an impossible time data=\(second)")
        } catch {
            throw .badAnswer("\(location): \(error)")
        }
        if let revision { self.revision = revision }
        roundTrips.append(t4 - t1)
    }
}
