/// Formats a Unix time as RFC 3339 in UTC with milliseconds (`2026-12-01T08:30:00.123Z`), the
/// `time` of JSON log lines, which log collectors parse without configuration.
public func rfc3339(unixNanoseconds: UnixNanoseconds) -> String {
    let seconds = unixNanoseconds.floorDivided(by: 1_000_000_000)
    let milliseconds = (unixNanoseconds - seconds * 1_000_000_000) / 1_000_000
    let days = seconds.floorDivided(by: 86_400)
    let secondOfDay = seconds - days * 86_400
    let (year, month, day) = civilDate(daysSinceEpoch: days)
    func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(year, 4))-\(pad(Int64(month), 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
        + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(milliseconds, 3))Z"
}
