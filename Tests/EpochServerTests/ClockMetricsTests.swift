import EpochCore
import Testing

@testable import EpochServer

/// The one producer of the kernel clock gauges, under the server's names and the watch's.
@Suite struct ClockMetricsTests {
    static let synchronized = ClockDiscipline(
        state: .ok, status: 0x2001, maxErrorNanoseconds: 3_000_000, estimatedErrorNanoseconds: 1_000)

    func scrape(_ names: ClockMetrics.Names, _ reading: ClockDiscipline) -> String {
        let metrics = ServerMetrics()
        ClockMetrics.register(names: names, with: metrics) { reading }
        var text: [UInt8] = []
        metrics.emit(into: &text)
        return String(decoding: text, as: UTF8.self)
    }

    @Test func theWatchNamesCarryTheNodesKernelReading() {
        let text = scrape(.watch, Self.synchronized)
        #expect(text.contains("\nepoch_watch_kernel_synchronized 1.0\n"))
        #expect(text.contains("\nepoch_watch_kernel_max_error_seconds 0.003\n"))
        #expect(text.contains("\nepoch_watch_kernel_estimated_error_seconds 1e-06\n"))
        #expect(text.contains("\nepoch_watch_kernel_clock_state 0.0\n"))
        #expect(!text.contains("kernel_status"))  // the watch leaves the status bits out
    }

    /// Control: an unsynchronized reading reads 0, and the server's names include the status bits.
    @Test func theServerNamesCarryTheStatusBitsToo() {
        let unsynchronized = ClockDiscipline(
            state: .error, status: 0x40, maxErrorNanoseconds: 16_000_000_000, estimatedErrorNanoseconds: 16_000_000_000)
        let text = scrape(.server, unsynchronized)
        #expect(text.contains("\nepoch_clock_sync_status 0.0\n"))
        #expect(text.contains("\nepoch_clock_maxerror_seconds 16.0\n"))
        #expect(text.contains("\nepoch_clock_status 64.0\n"))
        #expect(text.contains("\nepoch_clock_state 5.0\n"))
    }

    /// The kernel series of both names follow the one rule (issue 19): chrony's state without
    /// rtcsync (TIME_ERROR, STA_UNSYNC, maxerror 2 ms) is synchronized; the control, the same
    /// reading at the 16 s cap, is not.
    @Test(arguments: [(Int64(2_000_000), "1.0"), (Int64(16_000_000_000), "0.0")])
    func theKernelSeriesUseTheOneRule(maxError: Int64, synchronized: String) {
        let reading = ClockDiscipline(
            state: .error, status: ClockDiscipline.statusUnsynchronized, maxErrorNanoseconds: maxError,
            estimatedErrorNanoseconds: 100_000)
        #expect(scrape(.watch, reading).contains("\nepoch_watch_kernel_synchronized \(synchronized)\n"))
        #expect(scrape(.server, reading).contains("\nepoch_clock_sync_status \(synchronized)\n"))
    }
}
