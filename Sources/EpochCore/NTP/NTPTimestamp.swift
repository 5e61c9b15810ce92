/// NTP's 64-bit timestamp (RFC 5905 §6): seconds since 1900-01-01 in the high 32 bits, a binary
/// fraction of a second in the low 32. Era 0 ends in February 2036; the wire carries the
/// seconds modulo 2^32 and clients resolve the era from their own clock, so the conversion wraps.
public struct NTPTimestamp: Sendable, Equatable, Hashable {
    /// The raw 64 bits, exactly as on the wire (the origin timestamp is echoed bit for bit).
    public var bits: UInt64

    public init(bits: UInt64) { self.bits = bits }

    /// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
    public static let unixEpochOffsetSeconds: Int64 = 2_208_988_800

    public static let zero = NTPTimestamp(bits: 0)

    /// The NTP timestamp of a Unix time. The fraction is rounded down: 2^32 / 10^9 ≈ 4.29 units a
    /// nanosecond, so the conversion loses less than a quarter of a nanosecond.
    public init(unixNanoseconds: UnixNanoseconds) {
        let seconds = unixNanoseconds.floorDivided(by: 1_000_000_000)
        let nanoseconds = UInt64(unixNanoseconds - seconds * 1_000_000_000)
        let ntpSeconds = UInt64(truncatingIfNeeded: seconds &+ Self.unixEpochOffsetSeconds) & 0xFFFF_FFFF
        let fraction = (nanoseconds << 32) / 1_000_000_000
        self.bits = ntpSeconds << 32 | fraction
    }

    /// The Unix time of this timestamp in the era that contains `near` (a clock reading within
    /// 68 years of it), as RFC 5905 §6 tells clients to resolve the era.
    public func unixNanoseconds(near: UnixNanoseconds) -> UnixNanoseconds {
        let pivot = NTPTimestamp(unixNanoseconds: near)
        let difference = Int64(Int32(truncatingIfNeeded: UInt32(bits >> 32) &- UInt32(pivot.bits >> 32)))
        let pivotSeconds = near.floorDivided(by: 1_000_000_000)
        let fractionNanoseconds = Int64(((bits & 0xFFFF_FFFF) * 1_000_000_000 + (1 << 31)) >> 32)
        return (pivotSeconds + difference) * 1_000_000_000 + fractionNanoseconds
    }
}

/// NTP's 32-bit short format (RFC 5905 §6): 16 bits of seconds, 16 of fraction. Root delay and
/// root dispersion travel in it.
public struct NTPShort: Sendable, Equatable {
    public var bits: UInt32

    public init(bits: UInt32) { self.bits = bits }

    /// Rounded up, since it carries error bounds: a bound must never shrink on the wire.
    /// Saturates at the format's largest value, 65535.99998 s.
    public init(nanoseconds: Int64) {
        guard nanoseconds > 0 else {
            self.bits = 0
            return
        }
        // Beyond 65,536 s the format is full; below, nanoseconds << 16 stays under 2^63.
        guard nanoseconds < 65_536 * 1_000_000_000 else {
            self.bits = UInt32.max
            return
        }
        let units = ((UInt64(nanoseconds) << 16) + 999_999_999) / 1_000_000_000
        self.bits = UInt32(min(units, UInt64(UInt32.max)))
    }

    public var nanoseconds: Int64 { Int64((UInt64(bits) * 1_000_000_000) >> 16) }
}

extension Int64 {
    /// Division rounding towards minus infinity, for times before 1970.
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
