import EpochClient
import EpochCore

/// How `sync` and `check` print a measurement.
enum OffsetReport {
    static func sentence(_ result: SyncResult) -> String {
        let estimate = result.estimate
        let direction =
            estimate.offset == 0 ? "agrees with" : estimate.offset > 0 ? "is behind" : "is ahead of"
        var text = "This clock \(direction) \(result.url) by \(seconds(abs(estimate.offset))) "
        text += "(offset \(signedSeconds(estimate.offset)) ± \(seconds(estimate.errorBound))): "
        text += "the least-delayed of \(estimate.samples) exchanges took \(milliseconds(estimate.delay)) round trip"
        text +=
            estimate.samples > 1 ? ", and the exchanges' offsets spread over \(milliseconds(estimate.spread))." : "."
        if estimate.wholeSecondsOnly {
            text += " The server has no /sync and reports whole seconds only, so the bound is widened by 1 s."
        }
        if let revision = result.serverRevision { text += " Server rev \(revision)." }
        return text
    }

    static func json(_ result: SyncResult) -> String {
        let estimate = result.estimate
        return "{\"url\":\(jsonStringLiteral(result.url.description)),\"samples\":\(estimate.samples),"
            + "\"offset_ns\":\(estimate.offset),\"delay_ns\":\(estimate.delay),\"error_bound_ns\":\(estimate.errorBound),"
            + "\"server_rev\":\(result.serverRevision.map(jsonStringLiteral) ?? "null"),"
            + "\"spread_ns\":\(estimate.spread),\"whole_seconds_only\":\(estimate.wholeSecondsOnly)}"
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
