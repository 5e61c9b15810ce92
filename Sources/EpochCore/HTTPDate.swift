/// Formats a Unix time as an HTTP `Date` value (IMF-fixdate, RFC 9110 §5.6.7), without Foundation.
///
/// `Date` is rendered once per second per event loop, so this stays simple over fast.
public func httpDate(unixSeconds: Int64) -> String {
    let days = unixSeconds >= 0 ? unixSeconds / 86_400 : (unixSeconds - 86_399) / 86_400
    let secondOfDay = unixSeconds - days * 86_400
    let (year, month, day) = civilDate(daysSinceEpoch: days)
    let weekday = Int((days % 7 + 11) % 7)  // 1970-01-01 was a Thursday.
    let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return "\(weekdays[weekday]), \(twoDigits(day)) \(months[month - 1]) \(year) "
        + "\(twoDigits(secondOfDay / 3600)):\(twoDigits(secondOfDay / 60 % 60)):\(twoDigits(secondOfDay % 60)) GMT"
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int, day: Int64) {
    let z = daysSinceEpoch + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let shiftedMonth = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
    let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), Int(month), day)
}

private func twoDigits(_ value: Int64) -> String {
    value < 10 ? "0\(value)" : "\(value)"
}
