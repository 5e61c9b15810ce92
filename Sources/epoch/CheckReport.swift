import ArgumentParser
import EpochClient
import EpochCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `epoch check --report FILE`: the chained measurement of RFC 10049 §8.2 over three or more
/// roughtime:// servers, its signed replies kept in FILE as a §8.4 malfeasance report.
struct ChainedReportArguments: ParsableArguments {
    @Option(
        help: """
            Query the roughtime:// sources (three or more) in a chain, twice in the same order, each nonce \
            H(previous reply ‖ random) (RFC 10049 §8.2), check the signed times' causal order, and write the \
            requests and signed replies to FILE as a malfeasance report (§8.4) anyone can re-verify.
            """)
    var report: String?

    /// The fewest servers §8.2 asks a client to query.
    static let minimumServers = 3

    static func validate(report: String, sources: [String]) throws {
        guard sources.allSatisfy(RoughtimeAddress.isRoughtime), sources.count >= minimumServers else {
            throw CommandFailure.usage(
                "--report \(report) needs \(minimumServers) or more roughtime:// sources and no others; "
                    + "got \(sources.count), \(sources.filter(RoughtimeAddress.isRoughtime).count) of them roughtime://"
            )
        }
    }
}

enum ChainedCheck {
    /// Runs the chain, writes the report, and judges: exit 2 naming the liar when the signed
    /// times break causal order, else the usual multi-source check of the last round's offsets.
    static func run(
        _ texts: [String], reportFile: String, sampling: SamplingArguments, roughtime: RoughtimeArguments,
        limit: Duration, allowUnsynchronized: Bool
    ) async throws {
        try ChainedReportArguments.validate(report: reportFile, sources: texts)
        // validate(report:sources:) admitted roughtime:// sources only: every one is a RoughtimeSource.
        let sources = try ClockSources.make(texts, sampling: sampling, roughtime: roughtime).compactMap {
            $0 as? RoughtimeSource
        }
        let result: RoughtimeSequence.Result
        do {
            result = try await RoughtimeSequence(sources: sources).run()
        } catch {
            throw CommandFailure(
                message: "\(error.description) (no report written: §8.4 reports no protocol errors)", exitCode: 2)
        }
        try save(result.report.json, to: reportFile)
        let times = result.signedTimes
        for (index, time) in times.enumerated() {
            print("chain \(index + 1): \(time.server) MIDP \(time.midpoint) ± RADI \(time.radius) s")
        }
        print(
            "chain of \(times.count) signed replies written to \(reportFile) (\(RoughtimeMalfeasanceReport.mediaType))")
        switch result.verdict {
        case .consistent:
            print("causal order holds: every reply's MIDP − RADI ≤ every later reply's MIDP + RADI")
        case .liars(let servers):
            throw CommandFailure(
                message: "causal order violated: \(servers.joined(separator: ", ")) lied "
                    + "(\(describe(RoughtimeChain.violations(times), times))); the signed evidence is in \(reportFile)",
                exitCode: 2)
        case .undecided(let servers):
            throw CommandFailure(
                message: "causal order violated among \(servers.joined(separator: ", ")), and the chain cannot tell "
                    + "which lied (\(describe(RoughtimeChain.violations(times), times))); the evidence is in \(reportFile)",
                exitCode: 2)
        }
        let lastRound = Array(result.observations.suffix(sources.count)).map(\.measurement)
        try ClockSources.check(lastRound, limit: limit, allowUnsynchronized: allowUnsynchronized)
    }

    private static func describe(_ violations: [RoughtimeChain.Violation], _ times: [RoughtimeChain.SignedTime])
        -> String
    {
        let first = violations[0]
        let (a, b) = (times[first.earlier], times[first.later])
        var text = "reply \(first.earlier + 1) from \(a.server) signed \(a.midpoint) ± \(a.radius) s, "
        text += "yet reply \(first.later + 1), made after it, from \(b.server) signed \(b.midpoint) ± \(b.radius) s"
        if violations.count > 1 { text += "; \(violations.count - 1) more pair(s)" }
        return text
    }

    /// Writes the report whole, replacing an older one (mode 0644: it holds nothing secret).
    private static func save(_ text: String, to file: String) throws {
        try CommandFiles.save(Array(text.utf8), to: file, mode: 0o644, replacing: true, exitCode: 2)
    }
}
