import Crypto
import EpochCore
import EpochTestSupport
import Testing

@testable import EpochServer

/// `/` for browsers (issue 25): who gets the page, and what the page is made of.
@Suite struct PageTests {
    static let chrome =
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
        + "application/signed-exchange;v=b3;q=0.7"
    static let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    static let safari = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

    @Test(arguments: [
        PageTests.chrome, PageTests.firefox, PageTests.safari, "text/html", "TEXT/HTML", "text/html;q=0.9, */*;q=0.1",
    ])
    func browsersPreferThePage(accept: String) {
        #expect(prefersHTML(acceptValues: [accept]))
    }

    @Test(arguments: [
        "*/*", "application/json", "application/json, text/html", "text/html;q=0.5, application/json",
        "text/html;q=0", "application/*, text/html", "text/html, */*;q=1",
        // Not a Structured Field list (a space before `;`): the original JSON, not a guess.
        "text/html ;q=1", "", "text/htm", ",,,text/html;;q=",
        // Only a value that names text/html is parsed at all (the cheap test of the hot path).
        "text/*",
    ])
    func everyoneElseKeepsTheJSON(accept: String) {
        #expect(!prefersHTML(acceptValues: [accept]))
    }

    @Test func noAcceptAndSeveralAcceptLines() {
        #expect(!prefersHTML(acceptValues: []))
        #expect(prefersHTML(acceptValues: ["application/json;q=0.5", "text/html"]))
        #expect(!prefersHTML(acceptValues: ["text/html;q=0.5", "application/json"]))
    }

    @Test func theTemplateIsFilledInOnceAndSplitAroundTheTime() throws {
        let page = EpochPage(host: "a<b&\"c\"", rev: "abc1234")
        let before = String(decoding: page.beforeTime, as: UTF8.self)
        let after = String(decoding: page.afterTime, as: UTF8.self)
        #expect(!(before + after).contains("{{"))
        #expect((before + after).contains("a&lt;b&amp;&quot;c&quot;"))
        #expect(after.contains("<dd id=\"rev\">abc1234</dd>"))
        let response = page.response(at: 1_796_292_065_999_999_999, allocator: .init())
        let body = String(buffer: response.body)
        #expect(body.contains("<time>2026-12-03 10:01:05 UTC</time>"))
        let etag = try #require(response.extraHeaders.first { $0.0 == "etag" }?.1)
        #expect(etag == "\"\(page.templateTag)-1796292065\"")
    }

    /// The policy allows exactly the page's inline script and style, by their SHA-256, computed
    /// here independently of `EpochPage`.
    @Test func theContentSecurityPolicyHashesTheInlineScriptAndStyle() throws {
        let page = EpochPage(host: "h", rev: "r")
        let html = String(decoding: page.beforeTime + page.afterTime, as: UTF8.self)
        for tag in ["script", "style"] {
            let open = try #require(html.firstRange(of: "<\(tag)>"))
            let close = try #require(html[open.upperBound...].firstRange(of: "</\(tag)>"))
            let digest = SHA256.hash(data: Array(html[open.upperBound..<close.lowerBound].utf8))
            #expect(page.contentSecurityPolicy.contains("\(tag)-src 'sha256-\(base64(Array(digest)))'"))
        }
        #expect(!page.contentSecurityPolicy.contains("unsafe"))
        #expect(page.contentSecurityPolicy.contains("default-src 'none'"))
        #expect(page.contentSecurityPolicy.contains("connect-src 'self'"))
    }

    @Test func base64MatchesRFC4648Vectors() {
        let vectors = [
            "": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=",
            "foobar": "Zm9vYmFy",
        ]
        for (plain, encoded) in vectors { #expect(base64(Array(plain.utf8)) == encoded) }
    }

    /// JSON and page answers of one second share the per-second cache without crossing.
    @Test func jsonAndPageInterleavedOnOneConnection() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                for accept in ["", "Accept: \(Self.chrome)\r\n", "Accept: */*\r\n", "Accept: text/html\r\n", ""] {
                    try await connection.send(get("/", accept))
                    let response = try await connection.readResponse()
                    #expect(response.status == 200)
                    if accept.contains("text/html") {
                        #expect(response.header("content-type") == "text/html; charset=utf-8")
                        #expect(response.header("content-security-policy") != nil)
                        #expect(response.body.hasPrefix("<!doctype html>"))
                    } else {
                        #expect(response.header("content-type") == "application/json")
                        #expect(response.header("etag") == nil)
                        #expect(response.body.hasPrefix("{\"host\":\"test-host\",\"type\":\"epoch\""))
                    }
                }
            }
        }
    }
}
