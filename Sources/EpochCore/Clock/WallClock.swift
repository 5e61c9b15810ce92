#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Nanoseconds since the Unix epoch, as CLOCK_REALTIME counts them.
public typealias UnixNanoseconds = Int64

/// The service's view of civil time: CLOCK_REALTIME shifted by a fixed skew.
///
/// The skew exists for tests of clients that measure offsets (`--clock-skew`); in production it is 0.
/// CLOCK_REALTIME (not a monotonic clock) is the point of this service: it is what TOTP validators
/// and NTP compare against.
public struct WallClock: Sendable {
    public let skew: Duration
    private let skewNanoseconds: Int64

    public init(skew: Duration = .zero) {
        self.skew = skew
        self.skewNanoseconds = skew.totalNanoseconds
    }

    /// The current time, read from the kernel (a vDSO call, no system call on Linux).
    @inline(__always)
    public func now() -> UnixNanoseconds {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) &* 1_000_000_000 &+ Int64(spec.tv_nsec) &+ skewNanoseconds
    }
}

/// CLOCK_REALTIME, CLOCK_MONOTONIC and CLOCK_MONOTONIC_RAW read back to back. A step of the wall
/// clock shows as a change in REALTIME − MONOTONIC (slewing moves both alike); slewing shows as
/// a change in REALTIME − MONOTONIC_RAW (the raw clock is never adjusted).
public struct PairedClockReading: Sendable, Equatable {
    public var realtime: UnixNanoseconds
    public var monotonic: Int64
    public var monotonicRaw: Int64

    public init(realtime: UnixNanoseconds, monotonic: Int64, monotonicRaw: Int64 = 0) {
        (self.realtime, self.monotonic, self.monotonicRaw) = (realtime, monotonic, monotonicRaw)
    }

    /// How much further the wall clock moved than the monotonic clock from `earlier` to this one.
    public func step(since earlier: PairedClockReading) -> Int64 {
        (realtime &- earlier.realtime) &- (monotonic &- earlier.monotonic)
    }

    /// How much further the wall clock moved than the unadjusted raw clock from `earlier`: what
    /// slewing (and any frequency correction) added, steps included.
    public func slew(since earlier: PairedClockReading) -> Int64 {
        (realtime &- earlier.realtime) &- (monotonicRaw &- earlier.monotonicRaw)
    }
}

extension WallClock {
    /// The current time with CLOCK_MONOTONIC and CLOCK_MONOTONIC_RAW read right after it.
    @inline(__always)
    public func paired() -> PairedClockReading {
        let realtime = now()
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        let monotonic = Int64(spec.tv_sec) &* 1_000_000_000 &+ Int64(spec.tv_nsec)
        #if os(Linux)
        clock_gettime(CLOCK_MONOTONIC_RAW, &spec)
        #endif
        return PairedClockReading(
            realtime: realtime, monotonic: monotonic,
            monotonicRaw: Int64(spec.tv_sec) &* 1_000_000_000 &+ Int64(spec.tv_nsec))
    }

    /// CLOCK_REALTIME's resolution in nanoseconds (1 on Linux): this side's precision in ε.
    public static func resolutionNanoseconds() -> Int64 {
        var spec = timespec()
        guard clock_getres(CLOCK_REALTIME, &spec) == 0 else { return 1 }
        return max(1, Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }
}

extension Duration {
    /// The duration in whole nanoseconds (attoseconds below a nanosecond are dropped).
    public var totalNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
