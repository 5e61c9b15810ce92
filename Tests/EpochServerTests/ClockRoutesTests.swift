import EpochCore
import EpochTestSupport
import Foundation
import Logging
import ServiceLifecycle
import Testing

@testable import EpochServer

/// Runs a server with an injected clock-discipline reading for the duration of `body`.
private func withClockServer(
    _ reading: ClockDiscipline, requireSynchronized: Bool = false,
    _ body: @Sendable (Int) async throws -> Void
) async throws {
    let configuration = testConfiguration { $0.requireSynchronizedClock = requireSynchronized }
    try await withTestServer(configuration, clock: ClockState(source: FixedClockDiscipline(reading))) { _, port in
        try await body(port)
    }
}

private func json(_ body: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(body.utf8)) as! [String: Any]
}

/// The clock's discipline as every HTTP route serves it, with injected readings: the synchronized
/// path cannot be seen on this machine's undisciplined kernel.
@Suite struct ClockRoutesTests {
    static let synchronized = ClockDiscipline(
        state: .ok, status: 0x2001, maxErrorNanoseconds: 1_500_000, estimatedErrorNanoseconds: 20_000)
    static let unsynchronized = ClockDiscipline(
        state: .error, status: 0x0041, maxErrorNanoseconds: 16_000_000_000, estimatedErrorNanoseconds: 16_000_000_000)
    /// What chrony leaves on Linux without `rtcsync`: TIME_ERROR and STA_UNSYNC, maxerror 2 ms.
    static let chronyWithoutRtcsync = ClockDiscipline(
        state: .error, status: 0x2041, maxErrorNanoseconds: 2_000_000, estimatedErrorNanoseconds: 100_000)
    /// The same reading with maxerror at the kernel's 16 s cap: the control.
    static let chronyAtTheCap = ClockDiscipline(
        state: .error, status: 0x2041, maxErrorNanoseconds: 16_000_000_000, estimatedErrorNanoseconds: 100_000)

    @Test(arguments: [synchronized, unsynchronized, chronyWithoutRtcsync, chronyAtTheCap])
    func syncAndClockReportTheReading(reading: ClockDiscipline) async throws {
        try await withClockServer(reading) { port in
            try await RawConnection.with(port: port) { connection in
                let sync = try json(try await connection.readResponse(get("/sync?t1=5")).body)
                let clock = try #require(sync["clock"] as? [String: Any])
                #expect(clock["synchronized"] as? Bool == reading.isSynchronized)
                // Aged to the moment of serving: up to 500 µs a second more, never less, capped at 16 s.
                let served = try #require((clock["max_error_ns"] as? NSNumber)?.int64Value)
                #expect(
                    served >= reading.maxErrorNanoseconds
                        && served <= min(reading.maxErrorNanoseconds + 1_000_000, 16_000_000_000))
                #expect((clock["estimated_error_ns"] as? NSNumber)?.int64Value == reading.estimatedErrorNanoseconds)
                #expect(clock["state"] as? String == reading.state?.name)

                let response = try await connection.readResponse(get("/clock"))
                #expect(response.status == 200 && response.header("content-type") == "application/json")
                let full = try json(response.body)
                #expect(full["synchronized"] as? Bool == reading.isSynchronized)
                #expect(full["status"] as? Int == Int(reading.status))
                #expect((full["reason"] as? String)?.hasPrefix(String(reading.reason.prefix(40))) == true)
                #expect((full["status_bits"] as? [String])?.contains("STA_UNSYNC") == (reading.status & 0x40 != 0))
            }
        }
    }

    @Test func metricsCarryTheClockAtScrapeTime() async throws {
        try await withClockServer(Self.synchronized) { port in
            try await RawConnection.with(port: port) { connection in
                let lines = Set(try await connection.readResponse(get("/metrics")).body.split(separator: "\n"))
                for expected in [
                    "epoch_clock_sync_status 1.0",
                    "epoch_clock_estimated_error_seconds 2e-05", "epoch_clock_status 8193.0", "epoch_clock_state 0.0",
                    "# TYPE epoch_clock_sync_status gauge",
                ] {
                    #expect(lines.contains(Substring(expected)), "\(expected) missing")
                }
                #expect(lines.contains { $0.hasPrefix("# HELP epoch_clock_maxerror_seconds ") })
                let maxError = try #require(lines.first { $0.hasPrefix("epoch_clock_maxerror_seconds ") })
                let seconds = try #require(Double(maxError.split(separator: " ")[1]))
                #expect(seconds >= 0.0015 && seconds <= 0.0025)
            }
        }
        try await withClockServer(Self.unsynchronized) { port in
            try await RawConnection.with(port: port) { connection in
                let body = try await connection.readResponse(get("/metrics")).body
                #expect(body.contains("epoch_clock_sync_status 0.0\n"))
                #expect(body.contains("epoch_clock_maxerror_seconds 16.0\n"))
                #expect(body.contains("epoch_clock_state 5.0\n"))
            }
        }
    }

    /// The proof and its control: the same unsynchronized reading is ready by default and 503
    /// with the reason under --require-synchronized-clock; a synchronized one is ready under it.
    @Test func requireSynchronizedClockMakesReadyzFailWithTheReason() async throws {
        try await withClockServer(Self.unsynchronized, requireSynchronized: true) { port in
            try await RawConnection.with(port: port) { connection in
                let response = try await connection.readResponse(get("/readyz"))
                #expect(response.status == 503)
                let body = try json(response.body)
                #expect(body["status"] as? String == "clock unsynchronized")
                #expect((body["reason"] as? String)?.contains("TIME_ERROR") == true)
            }
        }
        for (reading, required) in [(Self.unsynchronized, false), (Self.synchronized, true)] {
            try await withClockServer(reading, requireSynchronized: required) { port in
                try await RawConnection.with(port: port) { connection in
                    let response = try await connection.readResponse(get("/readyz"))
                    #expect(response.status == 200 && response.body == #"{"status":"ready"}"#)
                }
            }
        }
    }

    /// chrony's state without rtcsync is synchronized in /clock and /readyz; at the cap it is not.
    @Test(arguments: [(chronyWithoutRtcsync, true), (chronyAtTheCap, false)])
    func theOneRuleDecidesClockAndReadyz(reading: ClockDiscipline, synchronized: Bool) async throws {
        try await withClockServer(reading, requireSynchronized: true) { port in
            try await RawConnection.with(port: port) { connection in
                let clock = try json(try await connection.readResponse(get("/clock")).body)
                #expect(clock["synchronized"] as? Bool == synchronized)
                #expect(clock["state"] as? String == "TIME_ERROR")
                #expect((clock["status_bits"] as? [String])?.contains("STA_UNSYNC") == true)
                #expect(try await connection.readResponse(get("/readyz")).status == (synchronized ? 200 : 503))
            }
        }
    }
}
