/// Parses durations the way operators write them: `500ms`, `2s`, `1m`, `1h`, `250us`, `10ns`,
/// `1.5s`, with an optional sign (`-2s`, for `--clock-skew`). A bare `0` means zero.
public func parseDuration(_ text: String) -> Duration? {
    var body = Substring(text)
    var sign: Int64 = 1
    if body.first == "-" || body.first == "+" {
        if body.first == "-" { sign = -1 }
        body = body.dropFirst()
    }
    if body == "0" { return .zero }
    let units: [(suffix: String, nanoseconds: Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
    ]
    // Longest suffix first, so "ms" is not read as "m" + "s".
    for unit in units.sorted(by: { $0.suffix.count > $1.suffix.count }) where body.hasSuffix(unit.suffix) {
        let number = body.dropLast(unit.suffix.count)
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            let value = Double(number), value.isFinite
        else { return nil }
        let nanoseconds = value * unit.nanoseconds
        guard nanoseconds < 9.2e18 else { return nil }
        return .nanoseconds(sign * Int64(nanoseconds.rounded()))
    }
    return nil
}

/// Writes a duration the way `parseDuration` reads it, choosing the largest exact unit.
public func formatDuration(_ duration: Duration) -> String {
    let nanoseconds = duration.totalNanoseconds
    for (suffix, size) in [
        ("h", Int64(3600e9)), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1000),
    ]
    where nanoseconds != 0 && nanoseconds % size == 0 {
        return "\(nanoseconds / size)\(suffix)"
    }
    return nanoseconds == 0 ? "0s" : "\(nanoseconds)ns"
}
