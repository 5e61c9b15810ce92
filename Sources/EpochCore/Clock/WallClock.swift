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

extension Duration {
    /// The duration in whole nanoseconds (attoseconds below a nanosecond are dropped).
    public var totalNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
