import EpochTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import EpochServer

/// Connection behaviour: keep-alive, pipelining, limits, malformed input and the drain.
@Suite struct ConnectionTests {
    @Test func keepAliveServesManyRequestsOnOneConnection() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                for _ in 0..<50 {
                    try await connection.send(get("/"))
                    #expect(try await connection.readResponse().status == 200)
                }
                #expect(!connection.closedByServer)
            }
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(get("/healthz") + get("/nope") + get("/?unit=ms") + get("/readyz"))
                let statuses = [
                    try await connection.readResponse(), try await connection.readResponse(),
                    try await connection.readResponse(), try await connection.readResponse(),
                ]
                #expect(statuses.map(\.status) == [200, 404, 200, 200])
                #expect(statuses[2].body.contains(#""unit":"ms""#))
                #expect(statuses[3].body == #"{"status":"ready"}"#)
            }
        }
    }

    @Test func connectionCloseIsHonoured() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(get("/", "Connection: close\r\n"))
                let response = try await connection.readResponse()
                #expect(response.header("connection") == "close")
                #expect(try await connection.readUntilClosed().isEmpty)
                #expect(connection.closedByServer)
            }
        }
    }

    @Test func http10WithoutKeepAliveIsClosedAfterTheResponse() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("GET / HTTP/1.0\r\n\r\n")
                #expect(try await connection.readResponse().status == 200)
                _ = try await connection.readUntilClosed()
                #expect(connection.closedByServer)
            }
        }
    }

    @Test(arguments: [
        "GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        "\u{0}\u{1}\u{2}\r\n\r\n", "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
    ])
    func malformedRequestsGetA400AndAClose(request: String) async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(request)
                let responses = try await connection.readUntilClosed()
                #expect(responses.map(\.status) == [400])
                #expect(responses.first?.head.version == .http1_1)
                #expect(responses.first?.head.status.reasonPhrase == "Bad Request")
                #expect(connection.closedByServer)
            }
        }
    }

    @Test func http11WithoutHostIsA400() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                let response = try await connection.readResponse("GET / HTTP/1.1\r\n\r\n")
                #expect(response.status == 400)
                #expect(response.body.contains("Host"))
            }
        }
    }

    @Test func absoluteFormTargetsNameTheirPath() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                let response = try await connection.readResponse(
                    "GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                #expect(response.status == 200)
                #expect(response.body == #"{"status":"ok"}"#)
            }
        }
    }

    @Test func upgradeRequestsAreAnsweredAndTheConnectionClosed() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                // curl --http2 sends this; NIO's decoder parses nothing after an upgrade request.
                try await connection.send(
                    get("/", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n") + get("/healthz"))
                let response = try await connection.readResponse()
                #expect(response.status == 200)
                #expect(response.header("connection") == "close")
                #expect(try await connection.readUntilClosed().isEmpty)
                #expect(connection.closedByServer)
            }
        }
    }

    @Test func connectIsRefusedAndTheConnectionClosed() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
                let responses = try await connection.readUntilClosed()
                #expect(responses.map(\.status) == [405])
                #expect(responses.first?.head.status.reasonPhrase == "Method Not Allowed")
                #expect(responses.first?.header("connection") == "close")
                #expect(connection.closedByServer)
            }
        }
    }

    @Test func oversizedHeadersAreRejected() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(get("/", "X-Big: \(String(repeating: "a", count: 20_000))\r\n"))
                let statuses = try await connection.readUntilClosed().map(\.status)
                #expect(statuses == [400] || statuses == [431])
                #expect(connection.closedByServer)
            }
        }
    }

    @Test func endlessRequestsAreCutOffAt431() async throws {
        let configuration = testConfiguration {
            $0.maxRequestBytes = 4096
            $0.requestTimeout = .milliseconds(500)
        }
        try await withTestServer(configuration) { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("GET /?" + String(repeating: "a", count: 8192))
                let responses = try await connection.readUntilClosed()
                #expect(responses.map(\.status) == [431])
                #expect(responses.first?.body.contains(#""status":431"#) == true)
            }
        }
    }

    /// How late a timeout's close may come on a busy test machine (a protocol bound, not a test duration).
    static let closeMargin = Duration.seconds(1)

    @Test func slowRequestsAreClosedByTheRequestTimeout() async throws {
        let timeout = Duration.milliseconds(300)
        try await withTestServer(testConfiguration { $0.requestTimeout = timeout }) { _, port in
            try await RawConnection.with(port: port) { connection in
                // Measured from before the first byte, so the server's timer cannot have started earlier.
                let sent = ContinuousClock.now
                try await connection.send("GET / HTTP/1.1\r\nHost: x\r\n")  // never finished
                #expect(try await connection.readUntilClosed().isEmpty)
                let closedAfter = ContinuousClock.now - sent
                #expect(connection.closedByServer)
                #expect(closedAfter >= timeout, "closed after \(closedAfter), before the request timeout")
                #expect(closedAfter < timeout + Self.closeMargin, "closed after \(closedAfter)")
            }
        }
    }

    @Test func idleKeepAliveConnectionsAreClosed() async throws {
        let timeout = Duration.milliseconds(300)
        try await withTestServer(testConfiguration { $0.idleTimeout = timeout }) { _, port in
            try await RawConnection.with(port: port) { connection in
                // The idle time starts after the response, so after this instant.
                let sent = ContinuousClock.now
                try await connection.send(get("/"))
                #expect(try await connection.readResponse().status == 200)
                #expect(try await connection.readUntilClosed().isEmpty)
                let closedAfter = ContinuousClock.now - sent
                #expect(connection.closedByServer)
                #expect(closedAfter >= timeout, "closed after \(closedAfter), before the idle timeout")
                #expect(closedAfter < timeout + Self.closeMargin, "closed after \(closedAfter)")
            }
        }
    }

    /// SIGTERM's path: readiness fails at once while requests are still served during the delay,
    /// then idle keep-alive connections are closed and the server stops accepting.
    @Test func drainKeepsServingUntilTheDelayEndsThenClosesIdleConnections() async throws {
        // The delay must outlast the readiness poll and the requests below on a loaded machine.
        try await withTestServer(testConfiguration { $0.shutdownDelay = .seconds(3) }) { test, port in
            try await RawConnection.with(port: port) { idle in
                try await idle.send(get("/"))
                #expect(try await idle.readResponse().status == 200)
                try await RawConnection.with(port: port) { active in
                    try await active.send(get("/readyz"))
                    #expect(try await active.readResponse().status == 200)
                    await test.drain()
                    // The drain starts asynchronously: poll (bounded) until readiness turns.
                    var readiness = try await active.readResponse(get("/readyz"))
                    for _ in 0..<100 where readiness.status == 200 {
                        try await Task.sleep(for: .milliseconds(5))
                        readiness = try await active.readResponse(get("/readyz"))
                    }
                    #expect(readiness.status == 503)
                    #expect(readiness.body == #"{"status":"draining"}"#)
                    #expect(try await active.readResponse(get("/")).status == 200)
                    // New connections are still accepted during the delay.
                    try await RawConnection.with(port: port) { late in
                        try await late.send(get("/healthz"))
                        #expect(try await late.readResponse().status == 200)
                    }
                }
                // After the delay the quiescing helper closes the idle keep-alive connection.
                #expect(try await idle.readUntilClosed().isEmpty)
                #expect(idle.closedByServer)
            }
            await #expect(throws: (any Error).self) {
                try await RawConnection.with(port: port) { _ in }
            }
        }
    }
}
