import EpochCore
import EpochServer
import EpochTestSupport
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing

/// The NTP server over real loopback UDP sockets.
@Suite struct NTPServerTests {
    static let synchronized = ClockDiscipline(
        state: .ok, status: 0x2001, maxErrorNanoseconds: 2_000_000, estimatedErrorNanoseconds: 50_000)
    static let unsynchronized = ClockDiscipline(
        state: .error, status: ClockDiscipline.statusUnsynchronized, maxErrorNanoseconds: 16_000_000_000,
        estimatedErrorNanoseconds: 16_000_000_000)

    static func request(firstByte: UInt8 = 0x23, transmit: UInt64 = 0x0123_4567_89AB_CDEF) -> [UInt8] {
        var bytes = [firstByte, 0, 6, 0xEC] + [UInt8](repeating: 0, count: 44)
        NTPPacket.stamp(transmitTime: NTPTimestamp(bits: transmit), into: &bytes)
        return bytes
    }

    @Test func answersAClientRequestWithTheSocketTimes() async throws {
        try await withNTPServer(Self.synchronized) { port, _ in
            let before = WallClock().now()
            let reply = try #require(try await exchange(Self.request(), port: port))
            let after = WallClock().now()
            #expect(reply.count == 48)
            let packet = try NTPPacket(parsing: reply)
            #expect(packet.mode == .server && packet.leap == .none && packet.stratum == 3 && packet.version == 4)
            #expect(packet.originTime.bits == 0x0123_4567_89AB_CDEF)
            // The kernel's 2 ms, aged to the moment of the reply (500 µs/s), never less.
            #expect(packet.rootDispersion.nanoseconds >= 1_999_000 && packet.rootDispersion.nanoseconds <= 2_600_000)
            let received = packet.receiveTime.unixNanoseconds(near: before)
            let transmitted = packet.transmitTime.unixNanoseconds(near: before)
            #expect(before - 1 <= received && received <= transmitted && transmitted <= after + 1)
        }
    }

    @Test func theClockSkewShiftsEveryTimestamp() async throws {
        try await withNTPServer(Self.synchronized, skew: .milliseconds(1500)) { port, _ in
            let before = WallClock().now()
            let packet = try NTPPacket(parsing: try #require(try await exchange(Self.request(), port: port)))
            let after = WallClock().now()
            let received = packet.receiveTime.unixNanoseconds(near: before)
            #expect(before + 1_500_000_000 - 1 <= received && received <= after + 1_500_000_000 + 1)
        }
    }

    @Test func answersAlarmWhileTheKernelIsUnsynchronized() async throws {
        try await withNTPServer(Self.unsynchronized) { port, _ in
            let packet = try NTPPacket(parsing: try #require(try await exchange(Self.request(), port: port)))
            #expect(packet.leap == .alarm && packet.stratum == 16)
        }
    }

    /// chrony's state without rtcsync (TIME_ERROR, STA_UNSYNC, maxerror 2 ms) is served as
    /// synchronized; the same reading at the 16 s cap is the alarm (the control).
    @Test func chronysStateWithoutRtcsyncIsLeap0AndTheStratum() async throws {
        var reading = ClockDiscipline(
            state: .error, status: ClockDiscipline.statusUnsynchronized, maxErrorNanoseconds: 2_000_000,
            estimatedErrorNanoseconds: 100_000)
        try await withNTPServer(reading) { port, _ in
            let packet = try NTPPacket(parsing: try #require(try await exchange(Self.request(), port: port)))
            #expect(packet.leap == .none && packet.stratum == 3)
        }
        reading.maxErrorNanoseconds = 16_000_000_000
        try await withNTPServer(reading) { port, _ in
            let packet = try NTPPacket(parsing: try #require(try await exchange(Self.request(), port: port)))
            #expect(packet.leap == .alarm && packet.stratum == 16)
        }
    }

    /// Control and private mode (the amplifiers) and malformed datagrams get nothing back, and each
    /// is counted by reason; a valid request on the same socket afterwards is still answered.
    @Test func dropsAndCountsWhatItDoesNotAnswer() async throws {
        try await withNTPServer(Self.synchronized) { port, metrics in
            for unanswered in [
                Self.request(firstByte: 0x26), Self.request(firstByte: 0x27), Array(Self.request().prefix(20)),
                Self.request() + [0],
            ] {
                let reply = try await exchange(unanswered, port: port, wait: .milliseconds(300))
                #expect(reply == nil)
            }
            let answered = try await exchange(Self.request(), port: port)
            #expect(answered != nil)
            let text = metrics.registry.emitToString()
            for reason in ["control_mode", "private_mode", "too_short", "bad_length"] {
                #expect(text.contains("epoch_ntp_dropped_packets_total{reason=\"\(reason)\"} 1"), "\(reason)")
            }
            #expect(text.contains("epoch_ntp_replies_total{leap=\"none\"} 1"))
        }
    }
}

/// Runs an `NTPServer` on an ephemeral loopback port whose kernel reading is `discipline`.
func withNTPServer(
    _ discipline: ClockDiscipline, skew: Duration = .zero, _ body: @Sendable (Int, ServerMetrics) async throws -> Void
) async throws {
    var configuration = NTPServerConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.clockSkew = skew
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    let metrics = ServerMetrics()
    let server = NTPServer(
        configuration: configuration, clock: ClockState(source: FixedClockDiscipline(discipline)), metrics: metrics,
        logger: logger)
    try await withRunningService(server, bound: server.boundAddress, logger: logger) { _, port in
        try await body(port, metrics)
    }
}

/// Sends one datagram from a fresh socket and returns the first reply, or nil when none comes
/// within `wait`. An answer that must come gets 5 s (the server answers loopback in microseconds,
/// but these tests also run under the sanitizers on a loaded machine); an expected silence passes
/// a short `wait` of its own, which a late answer would also have to beat.
func exchange(_ bytes: [UInt8], port: Int, wait: Duration = .seconds(5)) async throws -> [UInt8]? {
    let channel = try await makeUDPClientChannel()
    return try await channel.executeThenClose { inbound, outbound in
        let server = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        try await outbound.write(AddressedEnvelope(remoteAddress: server, data: ByteBuffer(bytes: bytes)))
        return try await withThrowingTaskGroup(of: [UInt8]?.self) { race in
            race.addTask {
                for try await reply in inbound { return Array(reply.data.readableBytesView) }
                return nil
            }
            race.addTask {
                try await Task.sleep(for: wait)
                return nil
            }
            let first = try await race.next()!
            race.cancelAll()
            return first
        }
    }
}
