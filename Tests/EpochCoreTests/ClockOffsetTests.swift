import Testing

@testable import EpochCore

@Suite struct ClockOffsetTests {
    /// A server `offset` ns ahead; the request takes `up` ns, processing `work`, the reply `down`.
    func sample(offset: Int64, up: Int64, work: Int64 = 10_000, down: Int64, at t1: Int64 = 1_000_000_000_000)
        -> SyncSample
    {
        let t2 = t1 + up + offset
        let t3 = t2 + work
        return SyncSample(t1: t1, t2: t2, t3: t3, t4: t3 - offset + down)
    }

    @Test func symmetricDelaysGiveTheExactOffset() {
        let s = sample(offset: 2_000_000_000, up: 300_000, down: 300_000)
        #expect(s.offset == 2_000_000_000)
        #expect(s.delay == 600_000)
    }

    @Test func asymmetricDelaysStayWithinHalfTheDelay() {
        let s = sample(offset: 5_000_000, up: 900_000, down: 100_000)
        #expect(s.delay == 1_000_000)
        #expect(s.offset == 5_400_000)  // wrong by (up − down)/2 …
        let estimate = estimateOffset([s])!
        #expect(abs(estimate.offset - 5_000_000) <= estimate.errorBound)  // … which the bound covers.
    }

    @Test func negativeOffsetsMeanThisClockIsAhead() {
        let estimate = estimateOffset([sample(offset: -2_000_000_000, up: 200_000, down: 200_000)])!
        #expect(estimate.offset == -2_000_000_000)
        #expect(estimate.excess(over: 1_000_000_000) > 0)
        #expect(estimate.excess(over: 3_000_000_000) < 0)
    }

    @Test func aHugeDelaySampleDoesNotWin() {
        let samples = [
            sample(offset: 1_000_000, up: 500_000, down: 520_000),
            sample(offset: 1_000_000, up: 400_000_000, down: 1_000_000),  // a queued request
            sample(offset: 1_000_000, up: 200_000, down: 210_000),
        ]
        let estimate = estimateOffset(samples)!
        #expect(estimate.delay == 410_000)
        #expect(abs(estimate.offset - 1_000_000) <= 5_000)
        #expect(estimate.spread > 100_000_000)
        #expect(estimate.samples == 3)
    }

    @Test func oneSampleIsEnough() {
        let estimate = estimateOffset([sample(offset: 7, up: 100, down: 100)])!
        #expect(estimate.offset == 7)
        #expect(estimate.spread == 0)
        #expect(estimate.errorBound == 100)
    }

    @Test func noSamplesNoEstimate() {
        #expect(estimateOffset([]) == nil)
    }

    @Test func impossibleServerTimesAreRejectedBeforeAnyArithmetic() {
        let now: Int64 = 1_795_614_657_000_000_000
        #expect(SyncSample.checked(t1: now, t2: now + 10, t3: now + 20, t4: now + 30) != nil)
        #expect(SyncSample.checked(t1: now, t2: now + 20, t3: now + 10, t4: now + 30) == nil)  // t3 < t2
        #expect(SyncSample.checked(t1: now, t2: .min, t3: 0, t4: now) == nil)
        #expect(SyncSample.checked(t1: now, t2: .max, t3: .max, t4: now) == nil)
        #expect(SyncSample.checked(t1: -5, t2: .max, t3: .max, t4: 5) == nil)
        #expect(WholeSecondSample(t1: now, t4: now, serverSecond: 10_000_000_000).allowed == nil)  // overflows ns
        #expect(WholeSecondSample(t1: now, t4: now, serverSecond: 1_795_614_657_667).allowed == nil)  // milliseconds
        #expect(WholeSecondSample(t1: now, t4: now, serverSecond: .min).allowed == nil)
        #expect(WholeSecondSample(t1: now, t4: now - 1, serverSecond: 1_795_614_657).allowed == nil)  // t4 < t1
    }

    @Test func aSteppedClockNeverGivesANegativeDelay() {
        #expect(SyncSample(t1: 100, t2: 50, t3: 400, t4: 200).delay == 0)
    }
}
