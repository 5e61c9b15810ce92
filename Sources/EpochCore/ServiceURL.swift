/// The base URL of an epoch service, as `epoch sync` and `epoch check` take it:
/// `http://host[:port][/prefix]` or `https://…`; IPv6 hosts in brackets.
public struct ServiceURL: Sendable, Equatable, CustomStringConvertible {
    public enum Scheme: String, Sendable { case http, https }

    public var scheme: Scheme
    public var host: String
    public var port: Int
    /// Path prefix without a trailing slash ("" for the root).
    public var basePath: String

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws(Invalid) {
        guard let separator = text.firstRange(of: "://") else {
            throw Invalid(
                description:
                    "invalid URL \(jsonStringLiteral(text)): expected http://host[:port] or https://host[:port]")
        }
        let schemeText = text[..<separator.lowerBound].lowercased()
        guard let scheme = Scheme(rawValue: schemeText) else {
            throw Invalid(description: "unsupported URL scheme \(jsonStringLiteral(schemeText)): use http or https")
        }
        var rest = text[separator.upperBound...]
        if let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            throw Invalid(
                description:
                    "invalid URL \(jsonStringLiteral(text)): no query or fragment allowed (at \(jsonStringLiteral(String(rest[end...]))))"
            )
        }
        let pathStart = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<pathStart]
        var path = String(rest[pathStart...])
        rest = authority
        guard !authority.contains("@") else {
            throw Invalid(description: "invalid URL: credentials in URLs are not supported")
        }
        var host: Substring
        var portText: Substring? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw Invalid(description: "invalid URL \(jsonStringLiteral(text)): unterminated IPv6 address")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Invalid(description: "invalid URL \(jsonStringLiteral(text))") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._:".contains($0)) })
        else {
            throw Invalid(description: "invalid URL \(jsonStringLiteral(text)): missing or malformed host")
        }
        var port = scheme == .https ? 443 : 80
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw Invalid(description: "invalid URL \(jsonStringLiteral(text)): port must be 1-65535")
            }
            port = value
        }
        while path.hasSuffix("/") { path.removeLast() }
        self.scheme = scheme
        self.host = String(host)
        self.port = port
        self.basePath = path
    }

    public var description: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        let defaultPort = scheme == .https ? 443 : 80
        return "\(scheme.rawValue)://\(hostText)\(port == defaultPort ? "" : ":\(port)")\(basePath)"
    }

    /// The request target for `path` ("/sync?t1=…") under the base path.
    public func target(_ path: String) -> String { basePath + path }
}
