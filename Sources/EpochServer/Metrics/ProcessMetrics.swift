import NIOConcurrencyHelpers
import Prometheus

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process collector's standard series (the names and units of Prometheus' client
/// libraries: `process_cpu_seconds_total`, `process_resident_memory_bytes`, …), read from /proc at
/// every scrape rather than on a timer, so they cost nothing between scrapes.
package final class ProcessMetrics: Sendable {
    private let cpu: Counter
    private let resident: Gauge
    private let virtual: Gauge
    private let openFDs: Gauge
    private let maxFDs: Gauge
    private let cpuSecondsCounted = NIOLockedValueBox(0.0)
    private let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    private let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))

    /// Registers the series and a scrape hook that refreshes them.
    @discardableResult
    package static func register(on metrics: ServerMetrics) -> ProcessMetrics {
        let process = ProcessMetrics(registry: metrics.registry)
        metrics.onScrape { process.refresh() }
        return process
    }

    /// Registers the series in `registry`; call `refresh()` before each rendering.
    package init(registry: PrometheusCollectorRegistry) {
        cpu = registry.makeCounter(
            descriptor: .init(
                metricName: "process_cpu_seconds_total", unitName: "",
                helpText: "Total user and system CPU time spent in seconds."))
        resident = registry.makeGauge(
            descriptor: .init(
                metricName: "process_resident_memory_bytes", unitName: "", helpText: "Resident memory size in bytes."))
        virtual = registry.makeGauge(
            descriptor: .init(
                metricName: "process_virtual_memory_bytes", unitName: "", helpText: "Virtual memory size in bytes."))
        openFDs = registry.makeGauge(
            descriptor: .init(
                metricName: "process_open_fds", unitName: "", helpText: "Number of open file descriptors."))
        maxFDs = registry.makeGauge(
            descriptor: .init(
                metricName: "process_max_fds", unitName: "", helpText: "Maximum number of open file descriptors."))
        let start = registry.makeGauge(
            descriptor: .init(
                metricName: "process_start_time_seconds", unitName: "",
                helpText: "Start time of the process since unix epoch in seconds."))
        if let stat = Self.readStat(), let boot = Self.readBootTime() {
            start.set(to: boot + stat.startTicks / ticksPerSecond)
        }
        refresh()
    }

    /// Reads /proc/self/stat, /proc/self/fd and RLIMIT_NOFILE into the series. A read that fails
    /// (no /proc) leaves the last values in place rather than failing the scrape.
    package func refresh() {
        if let stat = Self.readStat() {
            let seconds = (stat.userTicks + stat.systemTicks) / ticksPerSecond
            // A Prometheus counter only goes up: add what the kernel counted since the last scrape.
            let delta = cpuSecondsCounted.withLockedValue { counted in
                defer { counted = max(counted, seconds) }
                return seconds - counted
            }
            if delta > 0 { cpu.increment(by: delta) }
            resident.set(to: stat.residentPages * pageSize)
            virtual.set(to: stat.virtualBytes)
        }
        if let count = Self.countOpenFiles() { openFDs.set(to: Double(count)) }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxFDs.set(to: Double(limit.rlim_cur)) }
    }

    /// The fields of /proc/self/stat this collector uses (proc(5)), in kernel units.
    struct ProcessStat: Equatable {
        var userTicks: Double
        var systemTicks: Double
        var startTicks: Double
        var virtualBytes: Double
        var residentPages: Double

        /// Fields are counted from after the command name, which sits in parentheses and may
        /// itself hold spaces and parentheses: the last `)` ends it.
        init?(parsing text: String) {
            guard let close = text.lastIndex(of: ")") else { return nil }
            let fields = text[text.index(after: close)...].split(separator: " ")
            // fields[0] is field 3 (state); proc(5) numbers utime 14, stime 15, starttime 22,
            // vsize 23, rss 24.
            func field(_ number: Int) -> Double? {
                let index = number - 3
                return index < fields.count ? Double(fields[index]) : nil
            }
            guard let user = field(14), let system = field(15), let start = field(22), let virtual = field(23),
                let resident = field(24)
            else { return nil }
            (userTicks, systemTicks, startTicks, virtualBytes, residentPages) = (user, system, start, virtual, resident)
        }
    }

    static func readStat() -> ProcessStat? { readFile("/proc/self/stat").flatMap(ProcessStat.init(parsing:)) }

    /// The boot time (`btime` of /proc/stat), in seconds since the epoch.
    static func readBootTime() -> Double? {
        guard let text = readFile("/proc/stat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count))
        }
        return nil
    }

    /// Entries of /proc/self/fd, less the directory handle this count itself opens.
    static func countOpenFiles() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { name in
                name[0] == UInt8(ascii: ".") && (name[1] == 0 || (name[1] == UInt8(ascii: ".") && name[2] == 0))
            }
            if !isDot { count += 1 }
        }
        return count - 1
    }

    /// A small /proc file in full (they report a size of 0, so read until the end).
    static func readFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
