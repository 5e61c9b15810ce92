/// The query parameters the service understands, parsed from a request target.
///
/// Parsing is deliberately narrow: no percent-decoding is needed for the values we accept (unit
/// names and integers), so anything encoded is simply an invalid value and gets a 400.
public struct Query: Sendable, Equatable {
    public var unit: TimeUnit = .sec
    public var t1: Int64? = nil
    /// `?format=json|html`: the representation of `/` asked for by name, overriding `Accept`.
    public var format: Representation? = nil

    public init(unit: TimeUnit = .sec, t1: Int64? = nil) {
        self.unit = unit
        self.t1 = t1
    }

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case invalidUnit(String)
        case invalidT1(String)
        case invalidFormat(String)

        public var description: String {
            switch self {
            case .invalidUnit(let value):
                "unit must be one of \(TimeUnit.acceptedValues); got \(jsonStringLiteral(String(value.prefix(64))))"
            case .invalidT1(let value):
                "t1 must be the client's send time in Unix nanoseconds (an integer); "
                    + "got \(jsonStringLiteral(String(value.prefix(64))))"
            case .invalidFormat(let value):
                "format must be one of \(Representation.acceptedValues); got \(jsonStringLiteral(String(value.prefix(64))))"
            }
        }
    }

    /// Parses the part after `?`; unknown parameters are ignored (caches and proxies add some).
    public init(parsing query: Substring) throws(Problem) {
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let value = parts.count > 1 ? parts[1] : ""
            switch parts[0] {
            case "unit":
                guard let unit = TimeUnit(rawValue: String(value)) else { throw .invalidUnit(String(value)) }
                self.unit = unit
            case "t1":
                guard let t1 = Int64(value) else { throw .invalidT1(String(value)) }
                self.t1 = t1
            case "format":
                guard let format = Representation(rawValue: String(value)) else { throw .invalidFormat(String(value)) }
                self.format = format
            default:
                continue
            }
        }
    }
}

/// Splits a request target into its path and its query (without `?`). The absolute form that
/// proxies send (`http://host/path?query`, RFC 9112 §3.2.2) names the same resource as its path.
public func splitTarget(_ target: String) -> (path: Substring, query: Substring) {
    var target = target[...]
    if target.first != "/", let scheme = target.firstRange(of: "://") {
        let authorityAndPath = target[scheme.upperBound...]
        let pathStart = authorityAndPath.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? authorityAndPath.endIndex
        target = authorityAndPath[pathStart...]
        if target.isEmpty || target.first == "?" { return ("/", target.dropFirst()) }
    }
    guard let mark = target.firstIndex(of: "?") else { return (target, "") }
    return (target[..<mark], target[target.index(after: mark)...])
}
