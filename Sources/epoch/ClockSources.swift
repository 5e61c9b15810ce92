import ArgumentParser
import EpochClient
import EpochCore

/// Options of roughtime:// sources, shared by `sync` and `check`.
struct RoughtimeArguments: ParsableArguments {
    @Option(help: "Base64 Ed25519 long-term key of a roughtime://HOST:PORT source (one per such source, in order).")
    var publicKey: [String] = []

    @Option(help: "Roughtime version to offer: 1 or 0x8000000c (repeatable; default both).")
    var roughtimeVersion: [String] = []

    func versions() throws -> [RoughtimeVersion] {
        guard !roughtimeVersion.isEmpty else { return RoughtimeVersion.supported }
        return try roughtimeVersion.map { text in
            guard let version = RoughtimeVersion.allCases.first(where: { $0.description == text.lowercased() }) else {
                throw CommandFailure.usage("--roughtime-version \(text) is invalid: it accepts 1 or 0x8000000c")
            }
            return version
        }
    }
}

/// The sources `sync` and `check` name on the command line: `http(s)://` and `roughtime://`.
enum ClockSources {
    /// The i-th `--public-key` belongs to the i-th roughtime:// source.
    static func make(_ texts: [String], sampling: SamplingArguments, roughtime: RoughtimeArguments) throws
        -> [any ClockSource]
    {
        try make(texts, http: sampling.samplingOptions, timeout: sampling.timeout.duration, roughtime: roughtime)
    }

    /// `http` samples every http(s):// source; `timeout` bounds each Roughtime exchange.
    static func make(_ texts: [String], http: SamplingOptions, timeout: Duration, roughtime: RoughtimeArguments)
        throws -> [any ClockSource]
    {
        let roughtimeCount = texts.filter(RoughtimeAddress.isRoughtime).count
        guard roughtime.publicKey.count == roughtimeCount else {
            throw CommandFailure.usage(
                "\(roughtimeCount) roughtime:// source(s) need as many --public-key options, in order; "
                    + "got \(roughtime.publicKey.count)")
        }
        let versions = try roughtime.versions()
        var keys = roughtime.publicKey[...]
        return try texts.map { text throws -> any ClockSource in
            do {
                if RoughtimeAddress.isRoughtime(text) {
                    let address = try RoughtimeAddress(parsing: text)
                    let key = try RoughtimeKeyText.publicKey(keys.removeFirst())
                    return RoughtimeSource(address: address, publicKey: key, timeout: timeout, versions: versions)
                }
                return SyncSource(url: try ServiceURL(parsing: text), options: http)
            } catch let error as CustomStringConvertible {
                throw CommandFailure.usage(error.description)
            }
        }
    }

    /// `sync roughtime://…`: one verified measurement, as a sentence or JSON.
    static func report(_ sampling: SamplingArguments, roughtime: RoughtimeArguments, json: Bool) async throws -> String
    {
        let measurement = try await measure(make([sampling.url], sampling: sampling, roughtime: roughtime))[0]
        return json ? self.json(measurement) : sentence(measurement)
    }

    /// Measures the sources one after the other (each takes a round trip or a few; a task group
    /// measuring them at once trapped (SIGILL, in its result loop) in the -O build with Swift 6.3.1,
    /// not in the debug build);
    /// the first failure is the command's one line, exit 2.
    static func measure(_ sources: [any ClockSource]) async throws -> [SourceMeasurement] {
        var measurements: [SourceMeasurement] = []
        for source in sources {
            do {
                measurements.append(try await source.measure())
            } catch {
                throw CommandFailure(message: error.description, exitCode: 2)
            }
        }
        return measurements
    }

    static func sentence(_ measurement: SourceMeasurement) -> String {
        let offset = measurement.offset
        let direction = offset == 0 ? "agrees with" : offset > 0 ? "is behind" : "is ahead of"
        var text = "This clock \(direction) \(measurement.source) by \(OffsetReport.seconds(abs(offset))) "
        text += "(offset \(OffsetReport.signedSeconds(offset)) ± \(OffsetReport.seconds(measurement.errorBound)))"
        if measurement.kind == .roughtime, let radius = measurement.sourceError {
            text += ": signed MIDP ± RADI \(OffsetReport.seconds(radius)), verified, plus the "
            text += "\(OffsetReport.milliseconds(measurement.roundTrip)) round trip."
        } else {
            text += ": the least-delayed of \(measurement.samples) exchanges took "
            text += "\(OffsetReport.milliseconds(measurement.roundTrip)) round trip."
        }
        return text
    }

    static func json(_ measurement: SourceMeasurement) -> String {
        "{\"source\":\(jsonStringLiteral(measurement.source)),\"kind\":\(jsonStringLiteral(measurement.kind.rawValue)),"
            + "\"offset_ns\":\(measurement.offset),\"error_bound_ns\":\(measurement.errorBound),"
            + "\"source_error_ns\":\(measurement.sourceError.map(String.init) ?? "null"),"
            + "\"round_trip_ns\":\(measurement.roundTrip),\"samples\":\(measurement.samples)}"
    }

    /// `check` over several sources: `ClockCheck` decides (the sources must agree, none may be
    /// unsynchronized unless `allowUnsynchronized`: such sources then take part with their whole
    /// bounds, and the agreed range must lie within `limit`); this prints its verdict.
    static func check(_ measurements: [SourceMeasurement], limit: Duration, allowUnsynchronized: Bool) throws {
        for measurement in measurements { print(sentence(measurement)) }
        let verdict = ClockCheck.judge(
            measurements.map(\.interval),
            unsynchronized: measurements.filter { $0.sourceSynchronized == false }.map(\.source),
            allowUnsynchronized: allowUnsynchronized, limit: limit.totalNanoseconds)
        switch verdict {
        case .passed:
            print(
                "clock check passed: \(measurements.count) sources agree, within --max-offset \(formatDuration(limit))")
        case .sourcesDisagree(let agreeing, let disagreeing, let majority):
            let odd = disagreeing.joined(separator: ", ")
            let message =
                majority
                ? "sources disagree: \(odd) disagrees with the majority (\(agreeing.joined(separator: ", ")))"
                : "sources disagree and no majority agrees: \(agreeing.joined(separator: ", ")) vs \(odd)"
            throw CommandFailure(message: message, exitCode: verdict.exitCode)
        case .unsynchronized(let sources):
            throw CommandFailure(
                message:
                    "clock check failed: \(sources.joined(separator: ", ")) reports its clock unsynchronized, "
                    + "so its time cannot be trusted (--allow-unsynchronized-server compares with it anyway)",
                exitCode: verdict.exitCode)
        case .beyondLimit(let range, let excess):
            throw CommandFailure(
                message:
                    "clock check failed: the sources agree on an offset of \(OffsetReport.signedSeconds(range.lowerBound))"
                    + "..\(OffsetReport.signedSeconds(range.upperBound)), beyond --max-offset \(formatDuration(limit)) "
                    + "by \(OffsetReport.seconds(excess))",
                exitCode: verdict.exitCode)
        }
    }
}
