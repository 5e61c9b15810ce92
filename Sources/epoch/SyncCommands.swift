import ArgumentParser
import EpochClient
import EpochCore

/// Sampling options shared by `sync` and `check`.
struct SamplingArguments: ParsableArguments {
    @Argument(help: "The service's base URL, e.g. http://127.0.0.1:8080 or https://epoch.example.com.")
    var url: String

    @Option(help: "Exchanges to make over one keep-alive connection (1-1000).")
    var samples = 8

    @Option(help: "Pause between exchanges, e.g. 50ms.")
    var interval = DurationArgument(argument: "50ms")!

    @Option(help: "Give up on a connection or an answer after this long, e.g. 5s.")
    var timeout = DurationArgument(argument: "5s")!

    @Option(help: "PEM file of CA certificates to trust for https:// URLs (default: the system's).")
    var caFile: String?

    @Flag(
        help: """
            Read URL's HTTP Date header (any web server) in whole seconds, bisecting its second boundary \
            (--samples and --interval do not apply).
            """)
    var dateHeader = false

    @Option(
        help: """
            The longest a whole-second source (--date-header, or a server without /sync) is sampled; \
            0s takes one sample, good to about ±0.5 s (0s-60s).
            """)
    var wholeSecondBudget = DurationArgument(argument: "4s")!

    func validate() throws {
        guard (1...1000).contains(samples) else { throw ValidationError("--samples must be 1-1000") }
        guard timeout.duration > .zero else { throw ValidationError("--timeout must be a positive duration") }
        guard interval.duration >= .zero else { throw ValidationError("--interval must not be negative") }
        guard wholeSecondBudget.duration >= .zero && wholeSecondBudget.duration <= .seconds(60) else {
            throw ValidationError("--whole-second-budget must be 0s-60s")
        }
    }

    /// The options as the client takes them, for every http(s):// source of the command line.
    var samplingOptions: SamplingOptions {
        var options = SamplingOptions()
        options.samples = samples
        options.interval = interval.duration
        options.timeout = timeout.duration
        options.trustedCertificatesFile = caFile
        options.dateHeader = dateHeader
        options.wholeSecondBudget = wholeSecondBudget.duration
        return options
    }

    /// Runs the measurement; every failure becomes one line and exit code 2.
    func measure() async throws -> SyncResult {
        let serviceURL: ServiceURL
        do {
            serviceURL = try ServiceURL(parsing: url)
        } catch {
            throw CommandFailure.usage(error.description)
        }
        do {
            return try await SyncClient.measure(serviceURL, options: samplingOptions)
        } catch {
            throw CommandFailure(message: error.description, exitCode: 2)
        }
    }
}

extension DurationArgument {
    var defaultValueDescription: String { formatDuration(duration) }
}

/// `epoch sync URL`: how far this clock is from the service's.
struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure this machine's clock offset against an epoch service, the NTP way.",
        discussion: """
            Sends --samples requests to URL/sync over one connection, timestamps each at the socket, and \
            reports the offset θ = ((t2−t1)+(t3−t4))/2 of the least-delayed exchange with error bound δ/2 \
            (RFC 5905 §8) plus the server's own maximum error, which /sync reports from its kernel (a server \
            that does not is reported as "server error unknown"). A server without /sync (the original \
            go-microepoch), or any server's Date header with --date-header, is read in whole seconds: the \
            samples are timed around its second boundary and their intervals intersected, for a bound of about \
            a round trip within a few seconds. A roughtime://HOST:PORT URL with --public-key is measured over \
            signed Roughtime instead (docs/roughtime.md). Exit status: 0 measured, 2 unreachable or bad answer.
            """
    )

    @OptionGroup var sampling: SamplingArguments
    @OptionGroup var roughtime: RoughtimeArguments

    @Flag(help: "Print one JSON object instead of a sentence.")
    var json = false

    func run() async throws {
        if RoughtimeAddress.isRoughtime(sampling.url) {
            print(try await ClockSources.report(sampling, roughtime: roughtime, json: json))
            return
        }
        let result = try await sampling.measure()
        print(json ? OffsetReport.json(result) : OffsetReport.sentence(result))
    }
}

/// `epoch check URL --max-offset D`: a monitoring check with a clear exit code.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when this clock is within --max-offset of the service's, 1 when not, 2 on errors.",
        discussion: """
            The clock passes when |offset| + error bound ≤ --max-offset, so a pass is certain, not likely. \
            For TOTP (RFC 6238) validators: codes change every 30 s and most validators accept one step of \
            drift, so --max-offset 5s leaves a wide margin; use it from cron, a systemd timer or a \
            Kubernetes exec probe in images that carry this binary. A server that says its own clock is \
            unsynchronized fails the check (exit 1) unless --allow-unsynchronized-server is given. Several \
            sources (http(s):// and roughtime://, mixed) must agree: exit 2 names the one that disagrees with \
            the majority.
            """
    )

    @OptionGroup var sampling: SamplingArguments
    @OptionGroup var roughtime: RoughtimeArguments

    @Argument(help: "More sources (http(s):// or roughtime://) that must agree with the first.")
    var moreSources: [String] = []

    @Option(help: "The largest acceptable offset, e.g. 500ms or 5s.")
    var maxOffset: DurationArgument

    @Flag(
        help: """
            Check against a server whose clock is unsynchronized, taking its clock as the reference \
            (its own error is then not added to the bound).
            """)
    var allowUnsynchronizedServer = false

    @OptionGroup var chain: ChainedReportArguments

    func run() async throws {
        if let reportFile = chain.report {
            try await ChainedCheck.run(
                [sampling.url] + moreSources, reportFile: reportFile, sampling: sampling, roughtime: roughtime,
                limit: maxOffset.duration, allowUnsynchronized: allowUnsynchronizedServer)
            return
        }
        if !moreSources.isEmpty || RoughtimeAddress.isRoughtime(sampling.url) {
            let sources = try ClockSources.make([sampling.url] + moreSources, sampling: sampling, roughtime: roughtime)
            try ClockSources.check(
                try await ClockSources.measure(sources), limit: maxOffset.duration,
                allowUnsynchronized: allowUnsynchronizedServer)
            return
        }
        let result = try await sampling.measure()
        print(OffsetReport.sentence(result))
        let source = result.url.description
        let verdict = ClockCheck.judge(
            [
                OffsetInterval(
                    source: source, offset: result.estimate.offset,
                    bound: result.checkedBound(allowingUnsynchronized: allowUnsynchronizedServer))
            ],
            unsynchronized: result.serverClock?.synchronized == false ? [source] : [],
            allowUnsynchronized: allowUnsynchronizedServer, limit: maxOffset.duration.totalNanoseconds)
        let limit = formatDuration(maxOffset.duration)
        switch verdict {
        case .passed:
            let reference =
                result.serverClock?.synchronized == false ? " of the server's clock, which is unsynchronized" : ""
            print("clock check passed: within --max-offset \(limit)\(reference)")
        case .unsynchronized:
            throw CommandFailure(
                message:
                    "clock check failed: the server's clock is \(result.serverClock!.summary), so its time cannot be "
                    + "trusted (--allow-unsynchronized-server compares with it anyway)",
                exitCode: verdict.exitCode)
        case .beyondLimit(_, let excess):
            throw CommandFailure(
                message:
                    "clock check failed: |offset| + bound exceeds --max-offset \(limit) by \(OffsetReport.seconds(excess))",
                exitCode: verdict.exitCode)
        case .sourcesDisagree:
            preconditionFailure("one source always agrees with itself")
        }
    }
}
