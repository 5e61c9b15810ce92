import EpochCore
import Testing

/// The rule `epoch check` applies: pass only when the clock is certainly within the limit.
@Suite struct ClockCheckTests {
    let ms: Int64 = 1_000_000

    func interval(_ source: String, _ offsetMs: Int64, _ boundMs: Int64) -> OffsetInterval {
        OffsetInterval(source: source, offset: offsetMs * ms, bound: boundMs * ms)
    }

    /// |offset| + bound exactly at the limit passes; one nanosecond more fails by that nanosecond.
    @Test func oneSourcePassesAtTheLimitAndFailsJustBeyond() {
        let atLimit = ClockCheck.judge(
            [interval("a", -300, 200)], unsynchronized: [], allowUnsynchronized: false, limit: 500 * ms)
        #expect(atLimit == .passed(agreed: -500 * ms ... -100 * ms))
        #expect(atLimit.exitCode == 0)
        let beyond = ClockCheck.judge(
            [interval("a", -300, 200)], unsynchronized: [], allowUnsynchronized: false, limit: 500 * ms - 1)
        #expect(beyond == .beyondLimit(agreed: -500 * ms ... -100 * ms, excess: 1))
        #expect(beyond.exitCode == 1)
    }

    /// An unsynchronized source fails the check (exit 1) unless the caller allows it.
    @Test(arguments: [(false, Int32(1)), (true, Int32(0))])
    func anUnsynchronizedSourceFailsUnlessAllowed(allow: Bool, exitCode: Int32) {
        let verdict = ClockCheck.judge(
            [interval("a", 1, 1)], unsynchronized: ["a"], allowUnsynchronized: allow, limit: 500 * ms)
        #expect(verdict.exitCode == exitCode)
    }

    /// Sources that disagree exit 2 and name the odd one out; the control is the same sources
    /// with the odd one moved back into agreement.
    @Test func disagreeingSourcesAreNamed() {
        let odd = ClockCheck.judge(
            [interval("a", 0, 10), interval("b", 5, 10), interval("c", 20_000, 10)], unsynchronized: [],
            allowUnsynchronized: false, limit: 500 * ms)
        #expect(odd == .sourcesDisagree(agreeing: ["a", "b"], disagreeing: ["c"], majority: true))
        #expect(odd.exitCode == 2)
        let agreeing = ClockCheck.judge(
            [interval("a", 0, 10), interval("b", 5, 10), interval("c", 8, 10)], unsynchronized: [],
            allowUnsynchronized: false, limit: 500 * ms)
        #expect(agreeing == .passed(agreed: -2 * ms...10 * ms))
    }
}
