import EpochTestSupport
import Foundation
import Testing

@testable import EpochServer

/// Every route, over a real socket, as a client sees it.
@Suite struct RoutesTests {
    @Test func epochAnswersTheOriginalShape() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                let before = Int(Date().timeIntervalSince1970)
                try await connection.send(get("/"))
                let response = try await connection.readResponse()
                let after = Int(Date().timeIntervalSince1970)
                #expect(response.status == 200)
                #expect(response.header("content-type") == "application/json")
                #expect(response.header("cache-control") == "no-store")
                #expect(response.header("date")?.hasSuffix(" GMT") == true)
                #expect(response.header("content-length") == String(response.body.utf8.count))
                let match = try #require(
                    response.body.wholeMatch(
                        of: #/\{"host":"test-host","type":"epoch","data":([0-9]{10}),"unit":"sec","rev":"abc1234"\}/#))
                let data = try #require(Int(match.1))
                #expect((before...after).contains(data))
            }
        }
    }

    @Test(arguments: ["sec", "ms", "us", "ns"])
    func epochInTheRequestedUnit(unit: String) async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                let now = Date().timeIntervalSince1970
                try await connection.send(get("/?unit=\(unit)"))
                let response = try await connection.readResponse()
                #expect(response.status == 200)
                let json = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as! [String: Any]
                #expect(json["unit"] as? String == unit)
                let scale: Double = ["sec": 1, "ms": 1e3, "us": 1e6, "ns": 1e9][unit]!
                let data = try #require((json["data"] as? NSNumber)?.doubleValue)
                #expect(abs(data / scale - now) < 2)
            }
        }
    }

    @Test(arguments: ["/?unit=days", "/?unit=", "/sync?t1=abc"])
    func badQueriesAreA400WithAJSONReason(target: String) async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(get(target))
                let response = try await connection.readResponse()
                #expect(response.status == 400)
                #expect(response.header("content-type") == "application/json")
                let json = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as! [String: Any]
                #expect(json["status"] as? Int == 400)
                let message = try #require(json["error"] as? String)
                #expect(message.contains(target.contains("unit") ? "sec, ms, us, ns" : "t1"))
            }
        }
    }

    @Test func syncReportsReceiveAndTransmitTimes() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                let t1 = Int64(Date().timeIntervalSince1970 * 1e9)
                try await connection.send(get("/sync?t1=\(t1)"))
                let response = try await connection.readResponse()
                #expect(response.status == 200)
                let json = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as! [String: Any]
                #expect((json["t1"] as? NSNumber)?.int64Value == t1)
                let t2 = try #require((json["t2"] as? NSNumber)?.int64Value)
                let t3 = try #require((json["t3"] as? NSNumber)?.int64Value)
                #expect(t3 >= t2)
                #expect(abs(t2 - t1) < 2_000_000_000)
                #expect(json["unit"] as? String == "ns")
                #expect(json["rev"] as? String == "abc1234")

                try await connection.send(get("/sync"))
                #expect(try await connection.readResponse().body.contains(#""t1":null"#))
            }
        }
    }

    @Test func clockSkewShiftsEveryReportedTime() async throws {
        try await withTestServer(testConfiguration { $0.clockSkew = .seconds(-3600) }) { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(get("/"))
                let body = try await connection.readResponse().body
                let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as! [String: Any]
                let data = try #require(json["data"] as? Int)
                #expect(abs(Double(data) + 3600 - Date().timeIntervalSince1970) < 2)
            }
        }
    }

    @Test func healthReadinessAndVersion() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(get("/healthz") + get("/readyz") + get("/version"))
                let health = try await connection.readResponse()
                let ready = try await connection.readResponse()
                let version = try await connection.readResponse()
                #expect(health.status == 200 && health.body == #"{"status":"ok"}"#)
                #expect(ready.status == 200 && ready.body == #"{"status":"ready"}"#)
                #expect(version.status == 200)
                #expect(version.body.hasPrefix(#"{"version":"9.9.9","rev":"abc1234","swift":""#))
            }
        }
    }

    @Test func metricsCountRequestsByRouteAndCode() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(get("/") + get("/") + get("/nope") + get("/?unit=x"))
                for _ in 0..<4 { _ = try await connection.readResponse() }
                try await connection.send(get("/metrics"))
                let metrics = try await connection.readResponse()
                #expect(metrics.status == 200)
                #expect(metrics.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
                let lines = Set(metrics.body.split(separator: "\n").map(String.init))
                #expect(lines.contains("epoch_request_count 3"))
                #expect(lines.contains(#"http_requests_total{method="GET",route="/",code="200"} 2"#))
                #expect(lines.contains(#"http_requests_total{method="GET",route="other",code="404"} 1"#))
                #expect(lines.contains(#"http_requests_total{method="GET",route="/",code="400"} 1"#))
                #expect(lines.contains(#"http_request_duration_seconds_count{route="/"} 3"#))
            }
        }
    }

    @Test func unknownPathsAreA404InJSON() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(get("/wp-login.php?x=1"))
                let response = try await connection.readResponse()
                #expect(response.status == 404)
                #expect(response.header("content-type") == "application/json")
                #expect(response.body.contains(#""status":404"#))
            }
        }
    }

    @Test(arguments: ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
    func otherMethodsAreA405WithAllow(method: String) async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("\(method) / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
                let response = try await connection.readResponse()
                #expect(response.status == 405)
                #expect(response.header("allow") == "GET, HEAD")
                #expect(response.body.contains(method))
                // The connection stays usable after a body the server did not want.
                try await connection.send(get("/healthz"))
                #expect(try await connection.readResponse().status == 200)
            }
        }
    }

    @Test func headMirrorsGetWithoutABody() async throws {
        try await withTestServer { _, port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(get("/"))
                let getResponse = try await connection.readResponse()
                try await connection.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
                let headResponse = try await connection.readHead()
                #expect(headResponse.status == 200)
                #expect(headResponse.header("content-length") == getResponse.header("content-length"))
                #expect(headResponse.header("content-type") == "application/json")
                // Nothing but the next response follows the HEAD answer's head.
                try await connection.send(get("/healthz"))
                #expect(try await connection.readResponse().body == #"{"status":"ok"}"#)
            }
        }
    }
}
