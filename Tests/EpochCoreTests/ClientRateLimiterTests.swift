import Testing

@testable import EpochCore

/// chrony's `ratelimit` semantics, with a seeded generator for the leak.
@Suite struct ClientRateLimiterTests {
    /// A deterministic generator (SplitMix64), so that the leak's share is reproducible.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let first = ClientRateLimiter.Address(ipv4: (127, 0, 0, 1))
    static let second = ClientRateLimiter.Address(ipv4: (127, 0, 0, 2))

    @Test func aBurstIsAnsweredThenLimitedWithAboutOneInFourLeaked() {
        var limiter = ClientRateLimiter(settings: .chronyDefaults)
        var random = Seeded(state: 19)
        let verdicts = (0..<200).map { limiter.admit(Self.first, now: Int64($0) * 1_000_000, random: &random) }
        #expect(verdicts.prefix(8).allSatisfy { $0 == .answer })
        let rest = verdicts.dropFirst(8)
        #expect(!rest.contains(.answer))
        let leaked = rest.filter { $0 == .leaked }.count
        #expect(leaked > 192 / 8 && leaked < 192 / 2, "leaked \(leaked) of 192")
        // Another address has its own bucket: the control.
        #expect(limiter.admit(Self.second, now: 200_000_000, random: &random) == .answer)
    }

    @Test func creditAccruesOneResponsePerInterval() {
        var limiter = ClientRateLimiter(settings: .init(intervalLog2: 3, burst: 1, leakLog2: 4))
        var never = Seeded(state: 1)
        #expect(limiter.admit(Self.first, now: 0, random: &never) == .answer)
        var now: Int64 = 7_999_999_999
        // Just short of 8 s: no whole response's credit yet (leaks aside).
        #expect(limiter.admit(Self.first, now: now, random: &never) != .answer)
        now += 8_000_000_000
        #expect(limiter.admit(Self.first, now: now, random: &never) == .answer)
    }

    @Test func theTableIsBoundedAndForgetsTheLeastRecentlySeen() {
        var limiter = ClientRateLimiter(
            settings: .init(intervalLog2: 12, burst: 1, leakLog2: 4), buckets: 1, slotsPerBucket: 2)
        #expect(limiter.capacity == 2)
        var random = Seeded(state: 3)
        _ = limiter.admit(Self.first, now: 0, random: &random)
        #expect(limiter.admit(Self.first, now: 1, random: &random) != .answer)  // remembered: limited
        for octet in UInt8(10)..<UInt8(20) {
            _ = limiter.admit(.init(ipv4: (10, 0, 0, octet)), now: 2 + Int64(octet), random: &random)
        }
        // Forgotten after ten other clients passed through a two-record table: a full bucket again.
        #expect(limiter.admit(Self.first, now: 100, random: &random) == .answer)
    }
}
