import ArgumentParser
import EpochCore
import EpochServer
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `epoch serve`: the HTTP time service.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the current Unix time as JSON over HTTP (the default command).",
        discussion: """
            Every option falls back to an environment variable (named in its help), then to its default.
            SIGTERM or SIGINT drains: /readyz answers 503, serving goes on for --shutdown-delay, \
            in-flight requests finish, then the process exits 0. A second signal exits at once.
            """
    )

    @Option(
        help: "IPv4 or IPv6 address to listen on (EPOCH_HOST; default 0.0.0.0).",
        transform: IPAddressLiteral.parse)
    var host: String?

    @Option(help: "Port to listen on, 0-65535; 0 picks a free one (EPOCH_PORT; default 8080).")
    var port: Int?

    @OptionGroup var logging: LoggingArguments

    @Option(help: "Keep serving this long after SIGTERM with /readyz at 503 (EPOCH_SHUTDOWN_DELAY; default 0s).")
    var shutdownDelay: DurationArgument?

    @Option(help: "Close keep-alive connections idle this long (EPOCH_IDLE_TIMEOUT; default 75s).")
    var idleTimeout: DurationArgument?

    @Option(
        help: "A request must arrive in full within this time of its first byte (EPOCH_REQUEST_TIMEOUT; default 10s).")
    var requestTimeout: DurationArgument?

    @Option(help: "Event loop threads (EPOCH_THREADS; default: the CPUs of the affinity mask or cgroup quota, fewer).")
    var threads: Int?

    @Option(help: "Connections held open at most; more are closed at accept (EPOCH_MAX_CONNECTIONS; default 256).")
    var maxConnections: Int?

    @Flag(help: .hidden)
    var testingWithoutBackpressure = false

    @Option(
        parsing: .unconditional,
        help: "Testing aid: shift every reported time by this duration, e.g. 2s or -2s (default 0).")
    var clockSkew: DurationArgument?

    @Flag(
        help: """
            /readyz answers 503 while the kernel clock is unsynchronized (maxerror at its 16 s cap) \
            (EPOCH_REQUIRE_SYNCHRONIZED_CLOCK=true; default off).
            """)
    var requireSynchronizedClock = false

    @Option(help: "Serve Roughtime (RFC 10049) over UDP on this port (EPOCH_ROUGHTIME_PORT; default off).")
    var roughtimePort: Int?

    @Option(help: "File holding the Roughtime long-term key, from `epoch roughtime keygen` (EPOCH_ROUGHTIME_KEY).")
    var roughtimeKey: String?

    @Flag(
        help: """
            Sign Roughtime answers (RADI 17 s) while the kernel clock is unsynchronized, instead of \
            dropping every request: RFC 10049 asks for a RADI that bounds the error, and an unsynchronized \
            kernel's 16 s is a cap, not a bound. For labs and tests (EPOCH_ROUGHTIME_SERVE_UNSYNCHRONIZED=1).
            """)
    var roughtimeServeUnsynchronized = false

    @OptionGroup var ntp: NTPArguments

    @OptionGroup var nts: NTSArguments

    func run() async throws {
        let configuration = try makeConfiguration()
        let ntpConfiguration = try ntp.configuration(host: configuration.host, clockSkew: configuration.clockSkew)
        let ntsConfiguration = try nts.configuration(host: configuration.host, ntp: ntpConfiguration)
        try logging.bootstrap()
        let logger = Logger(label: "epoch")
        // One clock reading and one metrics registry per process, shared by every protocol.
        let clock = ClockState()
        let metrics = ServiceRuntime.metrics(for: configuration)
        // Before the HTTP server exists: a bad NTS or Roughtime key file exits with its one line,
        // with nothing to stop (an HTTP server made and never run leaks its loop's promises).
        let (ntsKE, ntsNTP) = try makeNTS(ntsConfiguration, metrics: metrics, logger: logger)
        let roughtime = try makeRoughtimeServer(configuration, clock: clock, metrics: metrics, logger: logger)
        let server = EpochHTTPServer(configuration: configuration, logger: logger, metrics: metrics, clock: clock)
        // ServiceGroup shuts services down last to first: HTTP drains first, and the UDP protocols
        // (listed before it) answer until it has.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let ntsKE { services.append(.init(service: ntsKE)) }
        let ntpServer = ntpConfiguration.map {
            NTPServer(configuration: $0, clock: clock, metrics: metrics, logger: logger, nts: ntsNTP)
        }
        if let ntpServer { services.append(.init(service: ntpServer)) }
        if let roughtime { services.append(.init(service: roughtime)) }
        services.append(.init(service: server))
        // /readyz waits for every socket, not only HTTP's: NTS-KE, NTP and Roughtime bind in their
        // own services, and a first request must not reach a port that is not open yet.
        for bound in [ntsKE?.boundAddress, ntpServer?.boundAddress, roughtime?.boundAddress].compactMap({ $0 }) {
            server.readiness.waitFor(bound)
        }
        // Only once every option is known good: a bad one exits with its one line and nothing else.
        let reading = clock.discipline
        logger.log(level: reading.isSynchronized ? .info : .warning, "clock: \(reading.reason)")
        do {
            try await ServiceRuntime.run(services, logger: logger)
        } catch let failure as NTPServer.BindFailure {
            throw CommandFailure(message: failure.description, exitCode: 1)
        } catch {
            throw CommandFailure(
                message: "cannot serve on \(configuration.host):\(configuration.port): \(error)", exitCode: 1)
        }
    }

    private func makeConfiguration() throws -> ServerConfiguration {
        var configuration = try ServiceRuntime.configuration(
            host: host, port: port, portEnvironment: "EPOCH_PORT", defaultPort: 8080)
        configuration.shutdownDelay = try duration(shutdownDelay, "EPOCH_SHUTDOWN_DELAY", default: .zero)
        configuration.idleTimeout = try duration(idleTimeout, "EPOCH_IDLE_TIMEOUT", default: configuration.idleTimeout)
        configuration.requestTimeout = try duration(
            requestTimeout, "EPOCH_REQUEST_TIMEOUT", default: configuration.requestTimeout)
        for (name, value) in [
            ("--idle-timeout", configuration.idleTimeout), ("--request-timeout", configuration.requestTimeout),
        ]
        where value <= .zero {
            throw CommandFailure.usage("\(name) \(formatDuration(value)) is invalid: it accepts a positive duration")
        }
        if configuration.shutdownDelay < .zero {
            throw CommandFailure.usage("--shutdown-delay is invalid: it accepts a duration of 0s or more")
        }
        configuration.eventLoopThreads = try resolve(
            threads, environment: "EPOCH_THREADS", accepts: "a thread count 1-256"
        ) {
            Int($0)
        }
        if let threads = configuration.eventLoopThreads {
            try check(threads, in: 1...256, option: "--threads", accepts: "a thread count 1-256")
        }
        configuration.maxConnections = try resolve(
            maxConnections, environment: "EPOCH_MAX_CONNECTIONS", default: configuration.maxConnections,
            accepts: "a connection count 1-65536"
        ) {
            Int($0)
        }
        try check(
            configuration.maxConnections, in: 1...65536, option: "--max-connections",
            accepts: "a connection count 1-65536")
        // Testing aid, hidden: the backpressure flood test's control run (Tests/e2e/service/test_backpressure.py).
        configuration.backpressure = !testingWithoutBackpressure
        configuration.clockSkew = clockSkew?.duration ?? .zero
        configuration.requireSynchronizedClock = try resolve(
            requireSynchronizedClock, environment: "EPOCH_REQUIRE_SYNCHRONIZED_CLOCK")
        return configuration
    }

    private func duration(_ flag: DurationArgument?, _ name: String, default fallback: Duration) throws -> Duration {
        try resolve(
            flag?.duration, environment: name, default: fallback, accepts: DurationArgument.accepts,
            parse: parseDuration)
    }
}
