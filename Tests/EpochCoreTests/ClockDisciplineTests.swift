import Testing

@testable import EpochCore

@Suite struct ClockDisciplineTests {
    @Test func aDisciplinedClockIsSynchronized() {
        let reading = ClockDiscipline(
            state: .ok, status: 0x2001, maxErrorNanoseconds: 1_500_000, estimatedErrorNanoseconds: 20_000)
        #expect(reading.isSynchronized)
        #expect(
            reading.reason.hasPrefix(
                "the kernel clock is synchronized (maximum error 1500us below the 16s cap; TIME_OK"))
    }

    /// The state chrony leaves on Linux without `rtcsync`: STA_UNSYNC set and so TIME_ERROR, while
    /// maxerror is 2 ms. The one rule (maxerror below the 16 s cap) calls it synchronized; the
    /// control is the same reading at the cap.
    @Test func chronyWithoutRtcsyncIsSynchronizedByMaxError() {
        var reading = ClockDiscipline(
            state: .error, status: ClockDiscipline.statusUnsynchronized, maxErrorNanoseconds: 2_000_000,
            estimatedErrorNanoseconds: 100_000)
        #expect(reading.isSynchronized)
        #expect(reading.reason.contains("TIME_ERROR, STA_UNSYNC set"))
        reading.maxErrorNanoseconds = 16_000_000_000
        #expect(!reading.isSynchronized)
        #expect(
            reading.reason.hasPrefix(
                "the kernel clock is not synchronized (maximum error 16s, at the 16s cap; TIME_ERROR"))
        reading.maxErrorNanoseconds = 15_999_999_000
        #expect(reading.isSynchronized)  // just below the cap still counts
    }

    @Test func anUnreadableKernelIsUnsynchronizedAndSaysWhy() {
        let reading = ClockDiscipline.unavailable("adjtimex: Operation not permitted")
        #expect(!reading.isSynchronized)
        #expect(reading.reason.contains("Operation not permitted"))
    }

    /// A cached reading grows at the kernel's 500 µs/s, rounded up, and stops at the 16 s cap.
    @Test func agingGrowsMaxErrorAt500MicrosecondsASecondUpToTheCap() {
        let reading = ClockDiscipline(
            state: .ok, status: 0, maxErrorNanoseconds: 2_000_000, estimatedErrorNanoseconds: 0)
        #expect(reading.aged(by: 0) == reading)
        #expect(reading.aged(by: 1_000_000_000).maxErrorNanoseconds == 2_500_000)
        #expect(reading.aged(by: 1).maxErrorNanoseconds == 2_001_000)  // whole microseconds, rounded up
        #expect(reading.aged(by: 40_000_000_000_000).maxErrorNanoseconds == 16_000_000_000)
        #expect(!reading.aged(by: 40_000_000_000_000).isSynchronized)
    }

    /// This machine's kernel is not disciplined (TIME_ERROR, maxerror 16 s); where it is, the
    /// reading must still be self-consistent.
    @Test func theKernelAnswersWithAState() {
        let reading = KernelClockDiscipline().read()
        #expect(reading.failure == nil)
        #expect(reading.state != nil)
        #expect(reading.maxErrorNanoseconds >= reading.estimatedErrorNanoseconds || !reading.isSynchronized)
    }
}
