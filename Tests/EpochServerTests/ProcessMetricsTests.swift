import Prometheus
import Testing

@testable import EpochServer

@Suite struct ProcessMetricsTests {
    /// proc(5): the command name sits in parentheses and may hold spaces and parentheses itself.
    @Test func parsesStatFieldsAfterTheLastParenthesis() throws {
        let line =
            "4242 (epoch (a) b) S 1 4242 4242 0 -1 4194560 900 0 0 0 "
            + "125 37 0 0 20 0 3 0 98765 571359232 3051 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
        let stat = try #require(ProcessMetrics.ProcessStat(parsing: line))
        #expect(stat.userTicks == 125 && stat.systemTicks == 37)
        #expect(stat.startTicks == 98765 && stat.virtualBytes == 571_359_232 && stat.residentPages == 3051)
    }

    @Test func aTruncatedStatIsNilNotATrap() {
        #expect(ProcessMetrics.ProcessStat(parsing: "4242 (epoch) S 1 2 3") == nil)
        #expect(ProcessMetrics.ProcessStat(parsing: "") == nil)
        #expect(ProcessMetrics.ProcessStat(parsing: "no parenthesis at all") == nil)
    }

    /// This process's own series, read from /proc: every one present, with HELP and TYPE.
    @Test func registersTheStandardSeriesWithHelp() {
        let registry = PrometheusCollectorRegistry()
        ProcessMetrics(registry: registry).refresh()
        let text = registry.emitToString()
        for (name, type) in [
            ("process_cpu_seconds_total", "counter"), ("process_resident_memory_bytes", "gauge"),
            ("process_virtual_memory_bytes", "gauge"), ("process_open_fds", "gauge"), ("process_max_fds", "gauge"),
            ("process_start_time_seconds", "gauge"),
        ] {
            #expect(text.contains("# TYPE \(name) \(type)\n"), "\(name)")
            #expect(text.contains("# HELP \(name) "), "\(name)")
        }
        #expect(!text.contains("process_open_fds 0"))
    }
}
