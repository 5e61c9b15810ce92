import Crypto
import EpochCore
import NIOCore
import NIOHTTP1
import Synchronization

/// `/` for people: "Is my clock right?" (page.html beside this file, compiled in by SwiftPM's
/// `embedInCode`). The script in it measures the browser's clock against `/sync`; the server only
/// fills in its host and rev once (`PageOnFirstUse`), and its time, for the `<noscript>` part, per
/// second.
///
/// Pre-encoded like the JSON: the template is split around the time once, so rendering a second's
/// page is two copies and a date (the per-second cache then serves those bytes all second long).
struct EpochPage: Sendable {
    /// The page up to the server's time in its `<noscript>` part, and after it.
    let beforeTime: [UInt8]
    let afterTime: [UInt8]
    /// Only the page's own inline script and style run (their SHA-256 hashes), it fetches only
    /// from this origin, and nothing may frame it, submit a form from it or change its base URL.
    let contentSecurityPolicy: String
    /// A hash of the filled-in template: with the second shown, the page's strong `ETag`.
    let templateTag: String

    static let contentType = "text/html; charset=utf-8"
    static let timeMarker = "{{time}}"

    init(host: String, rev: String, template: [UInt8] = PackageResources.page_html) {
        let page = String(decoding: template, as: UTF8.self)
            .replacing("{{host}}", with: htmlEscaped(host))
            .replacing("{{rev}}", with: htmlEscaped(rev))
        guard let time = page.firstRange(of: Self.timeMarker) else {
            preconditionFailure("page.html has no \(Self.timeMarker) marker")
        }
        beforeTime = Array(page[..<time.lowerBound].utf8)
        afterTime = Array(page[time.upperBound...].utf8)
        contentSecurityPolicy =
            "default-src 'none'; script-src \(inlineHashes(of: "script", in: page)); "
            + "style-src \(inlineHashes(of: "style", in: page)); connect-src 'self'; img-src 'none'; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        templateTag = SHA256.hash(data: beforeTime + afterTime).prefix(8).map(hexByte).joined()
    }

    /// The page as it is at `time` (its second).
    func response(at time: UnixNanoseconds, allocator: ByteBufferAllocator) -> Response {
        let second = TimeUnit.sec.count(ofNanoseconds: time)
        let shown = rfc3339(unixNanoseconds: second &* 1_000_000_000)
        var body = allocator.buffer(capacity: beforeTime.count + afterTime.count + 32)
        body.writeBytes(beforeTime)
        // 2026-12-03T10:01:05.000Z -> 2026-12-03 10:01:05 UTC
        body.writeString("\(shown.prefix(10)) \(shown.dropFirst(11).prefix(8)) UTC")
        body.writeBytes(afterTime)
        return Response(
            status: .ok, contentType: Self.contentType, body: body,
            extraHeaders: [
                ("content-security-policy", contentSecurityPolicy),
                ("etag", "\"\(templateTag)-\(second)\""),
                ("x-content-type-options", "nosniff"),
                ("referrer-policy", "no-referrer"),
            ])
    }
}

/// The page, built at its first request rather than at start: building it runs code that `serve`
/// never runs on its way to idle (string search, SHA-256), whose pages then stayed resident. Built
/// at start it cost 1.5 MiB of idle RSS (make bench, 2026-12-03: 11.5 MiB against 9.9-10.0).
final class PageOnFirstUse: Sendable {
    private let host: String
    private let rev: String
    private let page = Mutex<EpochPage?>(nil)

    init(host: String, rev: String) {
        self.host = host
        self.rev = rev
    }

    func response(at time: UnixNanoseconds, allocator: ByteBufferAllocator) -> Response {
        let built = page.withLock { page in
            if let page { return page }
            let built = EpochPage(host: host, rev: rev)
            page = built
            return built
        }
        return built.response(at: time, allocator: allocator)
    }
}

extension EpochApplication {
    /// `GET /` as the page: the query is checked as `/`'s JSON would check it.
    func pageResponse(query: Substring, receivedAt: UnixNanoseconds) -> Response {
        do {
            _ = try Query(parsing: query)
        } catch {
            return .error(.badRequest, error.description, allocator: ByteBufferAllocator())
        }
        return page.response(at: receivedAt, allocator: ByteBufferAllocator())
    }
}

/// The CSP sources (`'sha256-…'`) of every inline `<tag>` element's content in `page`.
private func inlineHashes(of tag: String, in page: String) -> String {
    var sources: [String] = []
    var rest = page[...]
    while let open = rest.firstRange(of: "<\(tag)>"), let close = rest[open.upperBound...].firstRange(of: "</\(tag)>") {
        let content = rest[open.upperBound..<close.lowerBound]
        sources.append("'sha256-\(base64(Array(SHA256.hash(data: Array(content.utf8)))))'")
        rest = rest[close.upperBound...]
    }
    precondition(!sources.isEmpty, "page.html has no <\(tag)> element")
    return sources.joined(separator: " ")
}

/// Escapes the server's own host name and rev for HTML text and attribute values.
func htmlEscaped(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(character)
        }
    }
    return out
}

private func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
}

/// Standard base64 with padding (RFC 4648 §4) of our own hashes, for the CSP: neither NIO nor
/// swift-crypto exports an encoder, and Foundation stays out of what ships.
func base64(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    var out = ""
    for start in stride(from: 0, to: bytes.count, by: 3) {
        let chunk = bytes[start..<min(start + 3, bytes.count)]
        let value = chunk.enumerated().reduce(0) { $0 | Int($1.element) << (16 - 8 * $1.offset) }
        for position in 0..<4 {
            out.append(position <= chunk.count ? alphabet[(value >> (18 - 6 * position)) & 63] : "=")
        }
    }
    return out
}
