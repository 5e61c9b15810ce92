import Testing

@testable import EpochCore

private let second: Int64 = 1_000_000_000
private let millisecond: Int64 = 1_000_000

/// A whole-second server whose clock is `offset` ahead of ours, reading it halfway through a
/// round trip of `roundTrip`, as go-microepoch's `GET /` or a `Date` header does.
private struct SimulatedServer {
    var offset: Int64
    var roundTrip: Int64 = 200_000

    func sample(sentAt t1: Int64) -> WholeSecondSample {
        let readAt = t1 + roundTrip / 2 + offset
        let truncated = readAt >= 0 ? readAt / second : (readAt - second + 1) / second
        return WholeSecondSample(t1: t1, t4: t1 + roundTrip, serverSecond: truncated)
    }

    /// What `WholeSecondSampler` does, without sockets: a first sample, then rounds of scheduled
    /// probes; returns the interval and when the last probe was sent.
    func bisect(from start: Int64, rounds: Int) throws -> (WholeSecondInterval, Int64) {
        var interval = try WholeSecondInterval(sample(sentAt: start))
        var now = start + roundTrip
        for _ in 0..<rounds where interval.width > 2 * roundTrip {
            let times = WholeSecondSchedule.round(
                over: interval.allowed,
                count: WholeSecondSchedule.probeCount(width: interval.width, roundTrip: roundTrip),
                roundTrip: roundTrip, earliest: now + millisecond)
            for time in times {
                try interval.add(sample(sentAt: max(time, now)))
                now = max(time, now) + roundTrip
            }
        }
        return (interval, now)
    }
}

@Suite struct WholeSecondIntervalTests {
    static let start: Int64 = 1_795_614_657 * second + 123_456_789

    @Test func oneSampleAllowsASecondAndTheRoundTrip() throws {
        let sample = WholeSecondSample(
            t1: 1000 * second + 200 * millisecond, t4: 1000 * second + 201 * millisecond, serverSecond: 1001)
        let interval = try WholeSecondInterval(sample)
        #expect(interval.allowed == (799 * millisecond)..<(1800 * millisecond))
        #expect(interval.width == 1001 * millisecond)
        #expect(interval.offset == 1_299_500_000 && interval.errorBound == 500_500_000)
    }

    /// Samples taken at the same phase of every second all land on one side of the server's
    /// boundary: they agree, and the interval stays about a second wide. This is why the samples
    /// must be scheduled, and why the old midpoint guess was only good to ±1 s.
    @Test func samplesAllOnOneSideOfTheBoundaryDoNotNarrow() throws {
        let server = SimulatedServer(offset: 370 * millisecond)
        let samples = (0..<8).map { server.sample(sentAt: Self.start + Int64($0) * second) }
        let interval = try WholeSecondInterval(samples)
        #expect(interval.allowed.contains(server.offset))
        #expect(interval.width > 990 * millisecond)
    }

    @Test func twoSamplesStraddlingTheBoundaryNarrowToTheirSpacing() throws {
        let server = SimulatedServer(offset: 1_370 * millisecond)
        // The server's second turns when local time + 1.37 s is whole: at local …x.63 s.
        let boundary = (Self.start / second + 1) * second - 370 * millisecond
        let samples = [
            server.sample(sentAt: boundary - 2 * millisecond), server.sample(sentAt: boundary + 1 * millisecond),
        ]
        let interval = try WholeSecondInterval(samples)
        #expect(interval.allowed.contains(server.offset))
        #expect(interval.width <= 3 * millisecond + server.roundTrip)
    }

    @Test func aServerThatStepsGivesAnEmptyIntersection() throws {
        let before = SimulatedServer(offset: 0).sample(sentAt: Self.start)
        let stepped = SimulatedServer(offset: 5 * second).sample(sentAt: Self.start + 100 * millisecond)
        var interval = try WholeSecondInterval(before)
        #expect(throws: WholeSecondIntervalError.self) { try interval.add(stepped) }
        #expect(interval.samples == 1)  // Unchanged by the refused sample.
        let error = try #require(throws: WholeSecondIntervalError.self) { try WholeSecondInterval([before, stepped]) }
        #expect(error.description == "sample 2 contradicts the ones before it: the server stepped or lies")
    }

    @Test func noSamplesAndImpossibleSecondsAreErrors() {
        #expect(throws: WholeSecondIntervalError.noSamples) { try WholeSecondInterval([]) }
        let milliseconds = WholeSecondSample(t1: Self.start, t4: Self.start + 1, serverSecond: 1_795_614_657_667)
        #expect(throws: WholeSecondIntervalError.impossibleSecond(1_795_614_657_667)) {
            try WholeSecondInterval(milliseconds)
        }
    }

    /// The scheduled rounds narrow any sub-second offset from ±0.5 s to under a millisecond in
    /// three rounds (about 3 s of wall time), and the truth always stays inside.
    @Test(arguments: [1_370, -2_630, 0, 999, -1, 2_999, -3_000, 420] as [Int64])
    func scheduledRoundsFindTheOffsetWithinAMillisecond(offsetMilliseconds: Int64) throws {
        let server = SimulatedServer(offset: offsetMilliseconds * millisecond + 123_457)
        let (interval, end) = try server.bisect(from: Self.start, rounds: 3)
        #expect(interval.allowed.contains(server.offset))
        #expect(interval.errorBound < 1 * millisecond)
        #expect(end - Self.start < 4 * second)
    }

    /// Control: the same rounds with every probe sent half a second off its phase test offsets
    /// outside the interval after the first round: the bound stays far above the 10 ms criterion
    /// (62.5 ms, against under 1 ms when the phase is right).
    @Test func misPhasedProbesDoNotNarrow() throws {
        let server = SimulatedServer(offset: 1_370 * millisecond)
        var interval = try WholeSecondInterval(server.sample(sentAt: Self.start))
        var now = Self.start + server.roundTrip
        for _ in 0..<3 {
            let times = WholeSecondSchedule.round(
                over: interval.allowed, count: 15, roundTrip: server.roundTrip, earliest: now + millisecond)
            for time in times {
                let misPhased = max(time + 500 * millisecond, now)
                try interval.add(server.sample(sentAt: misPhased))
                now = misPhased + server.roundTrip
            }
        }
        #expect(interval.allowed.contains(server.offset))
        #expect(interval.errorBound > 10 * millisecond)
    }

    @Test func roundsSendTheLargestCandidateFirstAndNeverBeforeEarliest() {
        let earliest = Self.start
        let times = WholeSecondSchedule.round(
            over: (1 * second)..<(2 * second), count: 3, roundTrip: 0, earliest: earliest)
        #expect(times == times.sorted() && times.first! >= earliest)
        // Candidates 1.25, 1.5, 1.75 s are tested where local + candidate is a whole second.
        #expect(times.map { ($0 + 1_750 * millisecond) % second } == [0, 250 * millisecond, 500 * millisecond])
        #expect(times.first! - earliest < second)
    }

    @Test func probeCountSplitsIntoRoundTripPieces() {
        #expect(WholeSecondSchedule.probeCount(width: second, roundTrip: 200_000) == 15)
        #expect(WholeSecondSchedule.probeCount(width: 4 * millisecond, roundTrip: millisecond) == 3)
        #expect(WholeSecondSchedule.probeCount(width: millisecond, roundTrip: millisecond) == 1)
    }
}

@Suite struct HTTPDateParsingTests {
    @Test func readsRFC9110sExample() {
        #expect(parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
    }

    @Test(arguments: [0, 951_782_400, 1_795_614_657, 4_102_444_800, 68_256_000] as [Int64])
    func readsWhatTheServerWrites(seconds: Int64) {
        #expect(parseHTTPDate(Substring(httpDate(unixSeconds: seconds))) == seconds)
    }

    @Test(arguments: [
        "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Mon, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC", "Thu, 31 Feb 2000 00:00:00 GMT", "Sun, 06 Nov 1994 24:49:37 GMT",
        "Sun, 06 Nov 1994 08:4a:37 GMT", "", "Sun, 06 Nov 1994 08:49:37 GMT ", "Sun, 06 Nox 1994 08:49:37 GMT",
    ])
    func refusesEverythingElse(text: String) {
        #expect(parseHTTPDate(Substring(text)) == nil)
    }
}
