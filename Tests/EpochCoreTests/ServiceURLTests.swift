import Testing

@testable import EpochCore

/// `epoch sync`/`check` URLs: each parse is compared with literal expected components, never
/// with another parse of the same text.
@Suite struct ServiceURLTests {
    struct Expected: Sendable, CustomStringConvertible {
        var text: String
        var scheme: ServiceURL.Scheme
        var host: String
        var port: Int
        var basePath: String
        var description: String { text }
    }

    @Test(arguments: [
        Expected(text: "http://127.0.0.1:8080", scheme: .http, host: "127.0.0.1", port: 8080, basePath: ""),
        Expected(text: "http://epoch.example.com", scheme: .http, host: "epoch.example.com", port: 80, basePath: ""),
        Expected(
            text: "HTTPS://epoch.example.com/api/", scheme: .https, host: "epoch.example.com", port: 443,
            basePath: "/api"),
        Expected(text: "https://h:8443/a/b//", scheme: .https, host: "h", port: 8443, basePath: "/a/b"),
        Expected(text: "http://[::1]:9000", scheme: .http, host: "::1", port: 9000, basePath: ""),
        Expected(text: "http://[2001:db8::7]/x", scheme: .http, host: "2001:db8::7", port: 80, basePath: "/x"),
        Expected(text: "http://host:65535", scheme: .http, host: "host", port: 65535, basePath: ""),
    ])
    func parsesIntoTheseComponents(expected: Expected) throws {
        let url = try ServiceURL(parsing: expected.text)
        #expect(url.scheme == expected.scheme)
        #expect(url.host == expected.host)
        #expect(url.port == expected.port)
        #expect(url.basePath == expected.basePath)
    }

    @Test func targetsAndDescriptions() throws {
        #expect(try ServiceURL(parsing: "HTTPS://epoch.example.com/api/").target("/sync?t1=1") == "/api/sync?t1=1")
        #expect(try ServiceURL(parsing: "http://127.0.0.1:8080").target("/sync") == "/sync")
        #expect(try ServiceURL(parsing: "http://[::1]:9000").description == "http://[::1]:9000")
        #expect(
            try ServiceURL(parsing: "HTTPS://epoch.example.com:443/api/").description == "https://epoch.example.com/api"
        )
        #expect(try ServiceURL(parsing: "http://h:80").description == "http://h")
    }

    @Test(arguments: [
        "127.0.0.1:8080", "ftp://host", "http://", "http://host:0", "http://host:99999", "http://host:http",
        "http://user:pw@host", "http://host/?x=1", "http://[::1", "http://ho st", "",
    ])
    func rejectsWithAReason(text: String) {
        #expect(throws: ServiceURL.Invalid.self) { try ServiceURL(parsing: text) }
    }
}
