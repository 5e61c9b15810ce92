import Testing

@testable import EpochCore

@Suite struct ClockDisciplineTests {
    @Test func aDisciplinedClockIsSynchronized() {
        let reading = ClockDiscipline(
            state: .ok, status: 0x2001, maxErrorNanoseconds: 1_500_000, estimatedErrorNanoseconds: 20_000)
        #expect(reading.isSynchronized)
        #expect(reading.reason.contains("synchronized (TIME_OK)"))
    }

    @Test func unsyncBitOrErrorStateMeanUnsynchronized() {
        let unsyncBit = ClockDiscipline(
            state: .ok, status: ClockDiscipline.statusUnsynchronized, maxErrorNanoseconds: 0,
            estimatedErrorNanoseconds: 0)
        let errorState = ClockDiscipline(state: .error, status: 0, maxErrorNanoseconds: 0, estimatedErrorNanoseconds: 0)
        #expect(!unsyncBit.isSynchronized && !errorState.isSynchronized)
        #expect(errorState.reason.contains("not synchronized (TIME_ERROR"))
    }

    @Test func anUnreadableKernelIsUnsynchronizedAndSaysWhy() {
        let reading = ClockDiscipline.unavailable("adjtimex: Operation not permitted")
        #expect(!reading.isSynchronized)
        #expect(reading.reason.contains("Operation not permitted"))
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
