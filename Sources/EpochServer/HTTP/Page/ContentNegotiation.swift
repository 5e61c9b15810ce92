import EpochCore
import NIOHTTP1
import RawStructuredFieldValues

extension EpochApplication {
    /// `/` is JSON unless `?format=html`, or an `Accept` that prefers `text/html` (a browser's
    /// navigation), asks for the page. Every other route is its path's.
    package func route(path: Substring, query: Substring, headers: HTTPHeaders) -> EpochRoute {
        let route = EpochRoute(path: path)
        guard route == .epoch else { return route }
        // A bad query stays on `.epoch`, which answers it with a JSON 400.
        if !query.isEmpty, let format = (try? Query(parsing: query))?.format {
            return format == .html ? .page : .epoch
        }
        return prefersHTML(acceptValues: headers["accept"]) ? .page : .epoch
    }
}

/// Whether `Accept` ranks `text/html` above `application/json` (RFC 9110 §12.5.1: the most
/// specific media range that matches sets a type's quality; ties keep the original JSON).
///
/// The hot path pays one case-insensitive scan for `text/html`: curl (`*/*`), go-microepoch's
/// clients and `application/json` never reach the parser. Browsers' values (`text/html,
/// application/xhtml+xml,…;q=0.9,*/*;q=0.8`) are also valid Structured Field lists (RFC 9651:
/// media ranges are tokens, `q` a decimal), so swift-http-structured-headers parses them instead
/// of a hand-written parser; a value it rejects gets JSON.
func prefersHTML(acceptValues: [String]) -> Bool {
    guard acceptValues.contains(where: mentionsTextHTML) else { return false }
    var ranks = MediaRangeQualities()
    for value in acceptValues {
        var parser = StructuredFieldValueParser(Array(value.utf8))
        guard let members = try? parser.parseListFieldValue() else { return false }
        for member in members {
            guard case .item(let item) = member, case .token(let range) = item.rfc9651BareItem else { continue }
            ranks.add(range.lowercased(), quality: quality(item.rfc9651Parameters["q"]))
        }
    }
    return ranks.html > ranks.json
}

/// The qualities, in thousandths, of the media ranges that can match `text/html` and
/// `application/json`; nil where the header names none.
private struct MediaRangeQualities {
    var textHTML: Int?, textAny: Int?, applicationJSON: Int?, applicationAny: Int?, any: Int?

    mutating func add(_ range: String, quality: Int) {
        func keep(_ slot: inout Int?) { slot = max(slot ?? 0, quality) }
        switch range {
        case "text/html": keep(&textHTML)
        case "text/*": keep(&textAny)
        case "application/json": keep(&applicationJSON)
        case "application/*": keep(&applicationAny)
        case "*/*": keep(&any)
        default: break
        }
    }

    var html: Int { textHTML ?? textAny ?? any ?? 0 }
    var json: Int { applicationJSON ?? applicationAny ?? any ?? 0 }
}

/// A `q` parameter in thousandths: 1000 when absent, 0 when not a number in 0...1.
private func quality(_ q: RFC9651BareItem?) -> Int {
    switch q {
    case nil: 1000
    case .integer(let value)?: value == 1 ? 1000 : 0
    case .decimal(let value)?:
        min(1000, max(0, Int(value.mantissa) * [1, 10, 100, 1000][Int(value.exponent) + 3]))
    default: 0
    }
}

/// Whether `value` contains `text/html`, ASCII case-insensitively, without allocating.
private func mentionsTextHTML(_ value: String) -> Bool {
    let needle = "text/html".utf8
    let haystack = value.utf8
    var start = haystack.startIndex
    while let end = haystack.index(start, offsetBy: needle.count, limitedBy: haystack.endIndex) {
        if zip(haystack[start..<end], needle).allSatisfy({ ($0 &- 0x41 < 26 ? $0 | 0x20 : $0) == $1 }) { return true }
        start = haystack.index(after: start)
    }
    return false
}
