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
        #expect(estimate.errorBound == 101)  // δ/2 = 100, plus φ·(t4 − t1) = 15 ppm of 210 ns, rounded up
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

    /// RFC 5905 §8: δ < 0 is not a perfect sample but an impossible one. The lying server of the
    /// issue: t3 − t2 exceeds the round trip by 1 s, true offset 0.
    @Test func aNegativeDelayIsRejectedNotClampedToZero() {
        let t1: Int64 = 1_000_000_000_000
        let liar = SyncSample(t1: t1, t2: t1 + 100_000 - 1_000_000_000, t3: t1 + 200_000, t4: t1 + 300_000)
        #expect(liar.delay < 0 && liar.rejection == .negativeDelay)
        #expect(estimateOffset([liar]) == nil)
        // Half the exchanges lie: they are left out and listed, and the rest contain the truth (0).
        let honest = sample(offset: 0, up: 150_000, down: 150_000, at: t1 + 50_000_000)
        let estimate = estimateOffset([liar, honest, liar, honest])!
        #expect(estimate.samples == 2 && estimate.rejected == [.negativeDelay, .negativeDelay])
        #expect(abs(estimate.offset) <= estimate.errorBound)
        // Control: without the liars the estimate is the same, and nothing is rejected.
        #expect(estimateOffset([honest, honest])!.offset == estimate.offset)
        #expect(estimateOffset([honest, honest])!.rejected.isEmpty)
    }

    /// ε = both precisions + φ·(t4 − t1), φ = 15 ppm, + the local clock's movement against MONOTONIC.
    @Test func theBoundAddsEpsilon() {
        let s = sample(offset: 0, up: 50_000_000, work: 0, down: 50_000_000)  // 100 ms round trip
        let bare = estimateOffset([s])!.errorBound
        #expect(bare == 50_000_000 + 1_500)  // δ/2 + 15 ppm of 100 ms
        #expect(estimateOffset([s], resolution: 1, localPrecision: 1)!.errorBound == bare + 2)
        var stepped = s
        stepped.localStep = 700_000  // under the 1 ms tolerance: used, and added
        #expect(estimateOffset([stepped])!.errorBound == bare + 700_000)
    }

    /// An exchange during which CLOCK_REALTIME stepped against CLOCK_MONOTONIC is discarded.
    @Test func anExchangeDuringALocalStepIsDiscarded() {
        var stepped = sample(offset: 0, up: 100_000, down: 100_000)
        stepped.localStep = -2_000_000_000
        #expect(stepped.rejection == .localClockStepped)
        let good = sample(offset: 0, up: 100_000, down: 100_000)
        #expect(estimateOffset([stepped, good])!.rejected == [.localClockStepped])
        #expect(estimateOffset([stepped]) == nil)
    }
}

@Suite struct WholeSecondSlewingTests {
    /// Each sample's interval widens by φ times its distance from the first, or by what the local
    /// clock measurably slewed against MONOTONIC_RAW when that is more.
    @Test func wideningIsPhiTimesDistanceOrTheMeasuredSlew() {
        #expect(WholeSecondSample.widening(distance: 4_000_000_000, slew: 0) == 60_000)  // 15 ppm of 4 s
        #expect(WholeSecondSample.widening(distance: 4_000_000_000, slew: -333_332_000) == 333_332_000)  // 83,333 ppm
        let plain = WholeSecondSample(t1: 10_000_000_000, t4: 10_001_000_000, serverSecond: 10).allowed!
        let widened = WholeSecondSample(t1: 10_000_000_000, t4: 10_001_000_000, serverSecond: 10, widening: 5).allowed!
        #expect(widened.lowerBound == plain.lowerBound - 5 && widened.upperBound == plain.upperBound + 5)
    }

    /// A local clock slewing at chrony's 83,333 ppm moves the offset by 270 ms over 3.25 s.
    /// Without widening, a sample just after the server's second boundary (θ ≥ 0.299 s) and one
    /// just before a later boundary (θ < 0.051 s) contradict each other: "the server stepped or
    /// lies". Widened by the measured slew they intersect, and hold the offset at the first sample.
    @Test func aSlewingLocalClockNoLongerContradictsItself() throws {
        let rate = 83_333.0 / 1e6
        func sample(at seconds: Double, widened: Bool) -> WholeSecondSample {
            let local = 99.701 + seconds  // at 0 the server (0.3 s ahead) reads 100.001
            let slew = seconds * rate  // how much further the local clock has run
            let server = local + 0.3 - slew
            return WholeSecondSample(
                t1: Int64(local * 1e9), t4: Int64(local * 1e9) + 100_000,
                serverSecond: Int64(server.rounded(.down)),
                widening: widened
                    ? WholeSecondSample.widening(distance: Int64(seconds * 1e9), slew: Int64(slew * 1e9)) : 0)
        }
        let times = [0.0, 3.248]
        #expect(throws: WholeSecondIntervalError.self) {
            _ = try WholeSecondInterval(times.map { sample(at: $0, widened: false) })
        }
        let interval = try WholeSecondInterval(times.map { sample(at: $0, widened: true) })
        #expect(interval.allowed.contains(300_000_000))
    }
}

@Suite struct RetryBackoffTests {
    @Test func theWaitDoublesUpToTheCapAndASuccessResetsIt() {
        var backoff = RetryBackoff(base: .seconds(1), cap: .seconds(8))
        var waits: [Duration] = [backoff.delay]
        for _ in 0..<6 {
            backoff.recordFailure()
            waits.append(backoff.delay)
        }
        #expect(waits == [.zero, .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8), .seconds(8)])
        backoff.recordSuccess()
        #expect(backoff.delay == .zero)
    }
}
