import EpochClient
import EpochCore

/// How `sync` and `check` print a measurement.
enum OffsetReport {
    static func sentence(_ result: SyncResult) -> String {
        let estimate = result.estimate
        let direction =
            estimate.offset == 0 ? "agrees with" : estimate.offset > 0 ? "is behind" : "is ahead of"
        var text = "This clock \(direction) \(result.url) by \(seconds(abs(estimate.offset))) "
        text += "(offset \(signedSeconds(estimate.offset)) ± \(seconds(result.errorBound))): "
        if estimate.wholeSecondsOnly {
            let source = result.kind == .dateHeader ? "its Date header" : "GET / (no /sync)"
            text += "the server reports whole seconds only, in \(source); \(estimate.samples) exchanges "
            text += "in \(decimal(result.elapsed.totalNanoseconds, scale: 1_000_000_000, digits: 2)) s "
            text += "bisected its second boundary to "
            text += "±\(milliseconds(estimate.errorBound)) (least round trip \(milliseconds(estimate.delay)))."
        } else {
            text += "the least-delayed of \(estimate.samples) exchanges took \(milliseconds(estimate.delay)) round trip"
            text +=
                estimate.samples > 1
                ? ", and the exchanges' offsets spread over \(milliseconds(estimate.spread))." : "."
            if !estimate.rejected.isEmpty {
                text +=
                    " \(estimate.rejected.count) more exchanges were rejected (\(Set(estimate.rejected.map(\.rawValue)).sorted().joined(separator: ", ")))."
            }
        }
        text += " " + serverClockSentence(result)
        if let revision = result.serverRevision { text += " Server rev \(revision)." }
        return text
    }

    /// What the bound owes to the server's own clock, plainly.
    static func serverClockSentence(_ result: SyncResult) -> String {
        let network = seconds(result.estimate.errorBound)
        guard let server = result.serverClock else {
            return "Server error unknown: the server does not report its clock's error, "
                + "so the bound (±\(network)) is the network's and the resolution's alone."
        }
        let maxError = server.maxErrorNanoseconds.map { seconds($0) } ?? "unknown"
        if server.synchronized {
            return "The bound includes the server's own maximum error of \(maxError) "
                + "(its clock is synchronized, \(server.state ?? "state unknown")) on top of ±\(network) from the network."
        }
        return "The server's clock is NOT synchronized (\(server.state ?? "state unknown"), maximum error "
            + "\(maxError)): its time cannot be trusted; the bound includes that error "
            + "(±\(network) to the server's clock as it reads)."
    }

    static func json(_ result: SyncResult) -> String {
        let estimate = result.estimate
        let server = result.serverClock
        let optional = { (value: Int64?) in value.map(String.init) ?? "null" }
        return "{\"url\":\(jsonStringLiteral(result.url.description)),\"kind\":\"\(result.kind.rawValue)\","
            + "\"samples\":\(estimate.samples),\"elapsed_ns\":\(result.elapsed.totalNanoseconds),"
            + "\"offset_ns\":\(estimate.offset),\"delay_ns\":\(estimate.delay),\"error_bound_ns\":\(result.errorBound),"
            + "\"network_bound_ns\":\(estimate.errorBound),"
            + "\"server_synchronized\":\(server.map { String($0.synchronized) } ?? "null"),"
            + "\"server_max_error_ns\":\(optional(server?.maxErrorNanoseconds)),"
            + "\"server_estimated_error_ns\":\(optional(server?.estimatedErrorNanoseconds)),"
            + "\"server_clock_state\":\(server?.state.map(jsonStringLiteral) ?? "null"),"
            + "\"server_rev\":\(result.serverRevision.map(jsonStringLiteral) ?? "null"),"
            + "\"spread_ns\":\(estimate.spread),\"whole_seconds_only\":\(estimate.wholeSecondsOnly),"
            + "\"rejected_exchanges\":\(estimate.rejected.count),"
            + "\"rejected\":[\(estimate.rejected.map { "\"\($0.rawValue)\"" }.joined(separator: ","))]}"
    }

    /// Nanoseconds as seconds with microsecond digits: "2.000142 s".
    static func seconds(_ nanoseconds: Int64) -> String {
        "\(decimal(abs(nanoseconds), scale: 1_000_000_000, digits: 6)) s"
    }

    static func signedSeconds(_ nanoseconds: Int64) -> String {
        (nanoseconds < 0 ? "-" : "+") + seconds(nanoseconds)
    }

    static func milliseconds(_ nanoseconds: Int64) -> String {
        "\(decimal(abs(nanoseconds), scale: 1_000_000, digits: 3)) ms"
    }

    /// Fixed-point formatting without Foundation's `String(format:)` (which pulls in ~44 MB).
    private static func decimal(_ value: Int64, scale: Int64, digits: Int) -> String {
        let divisor = scale / Int64(pow10(digits))
        let rounded = (value + divisor / 2) / divisor
        let whole = rounded / Int64(pow10(digits))
        let fraction = String(rounded % Int64(pow10(digits)))
        return "\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
    }

    private static func pow10(_ exponent: Int) -> Int {
        (0..<exponent).reduce(1) { value, _ in value * 10 }
    }
}
