import ArgumentParser
import EpochClient
import EpochCore
import EpochServer
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `epoch watch`: the clock-drift exporter. It measures this node's clock against its sources
/// every --interval and serves the results on /metrics for Prometheus.
struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure this node's clock against one or more sources every --interval; serve /metrics.",
        discussion: """
            Each SOURCE is an epoch service's base URL (http:// or https://; its /sync is used, or the \
            whole seconds of GET / on an original go-microepoch; with --date-header, any web server's Date \
            header), or a roughtime://HOST:PORT server with its --public-key (one per such source, in order). /metrics carries per-source offset, \
            error bound, up/down and last success, whether the sources agree (Marzullo), and the node \
            kernel's clock discipline (adjtimex, read-only: no privileges needed). A failed measurement \
            is a counter and one log line, never an exit. SIGTERM or SIGINT stops it; a second one exits at once.
            """
    )

    @Argument(help: "Sources to measure (EPOCH_WATCH_SOURCES, separated by spaces or commas).")
    var sources: [String] = []

    @Option(help: "Time between rounds, e.g. 30s (EPOCH_WATCH_INTERVAL; default 30s).")
    var interval: DurationArgument?

    @Option(help: "Exchanges per source and round, 1-100 (default 4).")
    var samples = 4

    @Option(help: "Give up on a source's connection or answer after this long (default 5s).")
    var timeout = DurationArgument(argument: "5s")!

    @Option(help: "PEM file of CA certificates to trust for https:// sources (default: the system's).")
    var caFile: String?

    @Option(help: "Address to serve /metrics and /healthz on (EPOCH_HOST; default 0.0.0.0).")
    var host: String?

    @Option(help: "Port to serve /metrics and /healthz on (EPOCH_WATCH_PORT; default 9471).")
    var port: Int?

    @Flag(
        help: """
            Leave a source's own error out of its bound while the source says its clock is \
            unsynchronized, instead of counting it (an undisciplined kernel reports 16 s, beyond any \
            TOTP alert). For labs and tests only.
            """)
    var allowUnsynchronizedSources = false

    @Flag(help: "Read http(s):// sources' Date header, in whole seconds bisected to milliseconds, instead of /sync.")
    var dateHeader = false

    @OptionGroup var roughtime: RoughtimeArguments

    @OptionGroup var logging: LoggingArguments

    func run() async throws {
        let interval = try resolve(
            interval?.duration, environment: "EPOCH_WATCH_INTERVAL", default: .seconds(30),
            accepts: DurationArgument.accepts, parse: parseDuration)
        guard interval > .zero else { throw CommandFailure.usage("--interval must be a positive duration") }
        guard (1...100).contains(samples) else { throw CommandFailure.usage("--samples must be 1-100") }
        guard timeout.duration > .zero else { throw CommandFailure.usage("--timeout must be a positive duration") }
        var http = try ServiceRuntime.configuration(
            host: host, port: port, portEnvironment: "EPOCH_WATCH_PORT", defaultPort: 9471)
        http.eventLoopThreads = 1  // a scrape every few seconds and a probe: one loop is plenty
        let watched = try makeSources()
        try logging.bootstrap()
        let logger = Logger(label: "epoch-watch")

        let metrics = ServiceRuntime.metrics(for: http)
        let watchMetrics = WatchMetrics(registry: metrics.registry)
        let kernel = KernelClockDiscipline()
        ClockMetrics.register(names: .watch, with: metrics) { kernel.read() }
        let watch = ClockWatch(
            sources: watched.map(\.source),
            kinds: Dictionary(uniqueKeysWithValues: watched.map { ($0.source.name, $0.kind) }),
            interval: interval, metrics: watchMetrics, logger: logger,
            allowUnsynchronizedSources: allowUnsynchronizedSources)
        let server = HTTPServer(
            configuration: http, routes: WatchRoutes(watch: watch, metrics: metrics), metrics: metrics, logger: logger)
        do {
            try await ServiceRuntime.run([.init(service: watch), .init(service: server)], logger: logger)
        } catch {
            throw CommandFailure(message: "cannot serve on \(http.host):\(http.port): \(error)", exitCode: 1)
        }
    }

    /// The sources from the arguments, else from EPOCH_WATCH_SOURCES; each URL once.
    private func makeSources() throws -> [(source: any ClockSource, kind: SourceKind)] {
        var given = sources
        if given.isEmpty, let listed = environmentValue("EPOCH_WATCH_SOURCES") {
            given = listed.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        }
        guard !given.isEmpty else {
            throw CommandFailure.usage("no source to watch: give one or more URLs (or EPOCH_WATCH_SOURCES)")
        }
        var options = SamplingOptions()
        options.samples = samples
        options.timeout = timeout.duration
        options.trustedCertificatesFile = caFile
        options.dateHeader = dateHeader
        var seen: Set<String> = []
        return try ClockSources.make(given, http: options, timeout: timeout.duration, roughtime: roughtime).map {
            source in
            guard seen.insert(source.name).inserted else {
                throw CommandFailure.usage("source \(source.name) is given twice")
            }
            return (source, source is RoughtimeSource ? .roughtime : dateHeader ? .dateHeader : .httpSync)
        }
    }
}
