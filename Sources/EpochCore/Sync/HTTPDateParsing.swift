/// Reads an HTTP `Date` value in IMF-fixdate form (RFC 9110 §5.6.7), "Sun, 06 Nov 1994 08:49:37
/// GMT", as Unix seconds; nil for anything else.
///
/// Hand-written because nothing the project links parses HTTP dates: FoundationEssentials on Linux
/// (Swift 6.3.1, checked 2026-12-01) has no `.http` date strategy, and NIO only formats them.
/// Every sender must use IMF-fixdate (RFC 9110 §5.6.7); the two obsolete forms are refused with
/// the value in the error rather than guessed at. The input is a header value from the network:
/// it is checked character by character and its length is bounded before anything else.
public func parseHTTPDate(_ text: Substring) -> Int64? {
    let bytes = Array(text.utf8)
    // "Sun, 06 Nov 1994 08:49:37 GMT" is exactly 29 bytes.
    guard bytes.count == 29, bytes[3] == UInt8(ascii: ","), bytes[4] == UInt8(ascii: " "),
        bytes[7] == UInt8(ascii: " "), bytes[11] == UInt8(ascii: " "), bytes[16] == UInt8(ascii: " "),
        bytes[19] == UInt8(ascii: ":"), bytes[22] == UInt8(ascii: ":"), bytes[25...] == Array(" GMT".utf8)[...]
    else { return nil }
    let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday.
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    let name = { (range: Range<Int>) in String(decoding: bytes[range], as: UTF8.self) }
    guard let weekday = weekdays.firstIndex(of: name(0..<3)), let month = months.firstIndex(of: name(8..<11)),
        let day = digits(bytes[5..<7]), let year = digits(bytes[12..<16]), let hour = digits(bytes[17..<19]),
        let minute = digits(bytes[20..<22]), let second = digits(bytes[23..<25]),
        (1...daysIn(month: month + 1, year: year)).contains(day), hour < 24, minute < 60, second < 61
    else { return nil }
    let days = daysSinceEpoch(year: year, month: month + 1, day: day)
    guard Int((days % 7 + 7) % 7) == weekday else { return nil }
    // A leap second (":60") is read as the second after: Unix time has no name for it.
    return days * 86_400 + hour * 3600 + minute * 60 + second
}

private func digits(_ slice: ArraySlice<UInt8>) -> Int64? {
    var value: Int64 = 0
    for byte in slice {
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
        value = value * 10 + Int64(byte - UInt8(ascii: "0"))
    }
    return value
}

private func daysIn(month: Int, year: Int64) -> Int64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
}

/// Howard Hinnant's days-from-civil, the inverse of `civilDate` (proleptic Gregorian).
func daysSinceEpoch(year: Int64, month: Int, day: Int64) -> Int64 {
    let shiftedYear = month <= 2 ? year - 1 : year
    let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
    let yearOfEra = shiftedYear - era * 400
    let shiftedMonth = Int64(month > 2 ? month - 3 : month + 9)
    let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}
