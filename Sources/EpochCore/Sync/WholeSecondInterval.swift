/// One exchange with a server that only reports whole seconds (go-microepoch's `GET /`, or any
/// server's `Date` header): sent at t1, first response byte at t4 (local Unix nanoseconds), and
/// the second the server's clock was in.
public struct WholeSecondSample: Sendable, Equatable {
    public var t1: Int64
    public var t4: Int64
    /// The server's time in whole seconds, truncated (as Unix time and HTTP dates are).
    public var serverSecond: Int64
    /// How far either way the offset may have moved since the first sample (`widening(…)`); the
    /// sample's interval is widened by it before it is intersected.
    public var widening: Int64

    public init(t1: Int64, t4: Int64, serverSecond: Int64, widening: Int64 = 0) {
        (self.t1, self.t4, self.serverSecond, self.widening) = (t1, t4, serverSecond, max(0, widening))
    }

    /// The intersection assumes one offset for every sample, over up to a few seconds. Both clocks
    /// may drift by φ = 15 ppm (RFC 5905) in that time, and a slewing local clock (chrony slews at
    /// up to 83,333 ppm) by far more: widen by φ·distance, or by what this clock measurably moved
    /// against CLOCK_MONOTONIC_RAW (`slew`) when that is more.
    public static func widening(distance: Int64, slew: Int64) -> Int64 {
        let tolerance = (distance.magnitude.clampedInt64 * frequencyTolerancePPM + 999_999) / 1_000_000
        return max(tolerance, slew.magnitude.clampedInt64)
    }

    /// The offsets (server − local, ns) this sample allows, half open: the server read its clock
    /// at some local instant t in [t1, t4], when it read somewhere in [s, s + 1 s). So
    /// θ = server − t lies in [s − t4, s + 1 s − t1). Nil when the numbers cannot be times near ours.
    public var allowed: Range<Int64>? {
        let (start, overflow) = serverSecond.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, t4 >= t1, (start / 2 - t1 / 2).magnitude < 1 << 60, widening < 1 << 40 else { return nil }
        return (start - t4 - widening)..<(start + 1_000_000_000 - t1 + widening)
    }
}

/// Why whole-second samples give no answer.
public enum WholeSecondIntervalError: Error, Equatable, CustomStringConvertible {
    /// No sample at all.
    case noSamples
    /// A sample's second is not a time near ours.
    case impossibleSecond(Int64)
    /// Two samples allow no common offset: the server's clock stepped between them, or it lies.
    case disjoint(sample: Int, allowed: Range<Int64>, before: Range<Int64>)

    public var description: String {
        switch self {
        case .noSamples: "no samples"
        case .impossibleSecond(let second): "an impossible time \(second) s"
        case .disjoint(let sample, _, _):
            "sample \(sample) contradicts the ones before it: the server stepped or lies"
        }
    }
}

/// The offsets every whole-second sample so far allows: the intersection of their intervals, which
/// narrows from about 1 s to about one round trip when the samples straddle the server's second
/// boundary (`WholeSecondSchedule` times them so that they do, as htpdate does).
public struct WholeSecondInterval: Sendable, Equatable {
    /// The offsets still possible, half open, in nanoseconds.
    public private(set) var allowed: Range<Int64>
    public private(set) var samples: Int
    /// The shortest round trip seen.
    public private(set) var minimumRoundTrip: Int64

    public init(_ first: WholeSecondSample) throws(WholeSecondIntervalError) {
        guard let allowed = first.allowed else { throw .impossibleSecond(first.serverSecond) }
        self.allowed = allowed
        self.samples = 1
        self.minimumRoundTrip = first.t4 - first.t1
    }

    public init(_ samples: [WholeSecondSample]) throws(WholeSecondIntervalError) {
        guard let first = samples.first else { throw .noSamples }
        try self.init(first)
        for sample in samples.dropFirst() { try add(sample) }
    }

    /// Narrows the interval by one more sample; throws, leaving it unchanged, when they share no offset.
    public mutating func add(_ sample: WholeSecondSample) throws(WholeSecondIntervalError) {
        guard let range = sample.allowed else { throw .impossibleSecond(sample.serverSecond) }
        let lower = max(allowed.lowerBound, range.lowerBound)
        let upper = min(allowed.upperBound, range.upperBound)
        guard lower < upper else { throw .disjoint(sample: samples + 1, allowed: range, before: allowed) }
        allowed = lower..<upper
        samples += 1
        minimumRoundTrip = min(minimumRoundTrip, sample.t4 - sample.t1)
    }

    /// The midpoint: the estimate with the smallest worst-case error.
    public var offset: Int64 { allowed.lowerBound + (allowed.upperBound - allowed.lowerBound) / 2 }

    /// Half the width, rounded up: the true offset lies within offset ± errorBound.
    public var errorBound: Int64 { (allowed.upperBound - allowed.lowerBound + 1) / 2 }

    public var width: Int64 { allowed.upperBound - allowed.lowerBound }

    /// The interval in the terms of `/sync` estimates; `spread` is the interval's width.
    public var estimate: OffsetEstimate {
        OffsetEstimate(
            offset: offset, delay: minimumRoundTrip, errorBound: errorBound, samples: samples, spread: width,
            wholeSecondsOnly: true)
    }
}

/// When to send the next round of whole-second probes.
///
/// A probe tells on which side of a candidate offset c the truth lies when the server reads its
/// clock just as `local + c` crosses a whole second: then it answers the later second exactly when
/// θ > c (within the round trip). A round sends `count` probes whose candidates split the current
/// interval evenly, so one second of waiting narrows it `count + 1` times, not twice as one
/// bisection step would: three rounds take 1 s to well under a millisecond.
public enum WholeSecondSchedule {
    /// Local send times (ascending) for a round over `interval`, the first no earlier than
    /// `earliest`. `roundTrip` is the expected round trip: each probe leaves half of it before the
    /// boundary, so that it reaches the server on it.
    public static func round(
        over interval: Range<Int64>, count: Int, roundTrip: Int64, earliest: Int64
    ) -> [Int64] {
        guard count > 0 else { return [] }
        let width = interval.upperBound - interval.lowerBound
        let candidates = (1...count).map { interval.lowerBound + width * Int64($0) / Int64(count + 1) }
        // Candidate c is tested at local time K − c − rtt/2 for a whole second K: the largest
        // candidate goes first. Pick the first K that leaves every send after `earliest`.
        let lead = roundTrip / 2
        let firstSend = { (second: Int64) in second * 1_000_000_000 - candidates.last! - lead }
        var second = floorDivide(earliest + candidates.last! + lead, 1_000_000_000)
        while firstSend(second) < earliest { second += 1 }
        return candidates.reversed().map { second * 1_000_000_000 - $0 - lead }
    }

    /// How many probes a round over `width` should send: enough to split it into pieces about one
    /// round trip wide (a piece smaller than that cannot be resolved), at most `limit`.
    public static func probeCount(width: Int64, roundTrip: Int64, limit: Int = 15) -> Int {
        let pieces = width / max(roundTrip, 100_000)
        return Int(max(1, min(Int64(limit), pieces - 1)))
    }
}

extension UInt64 {
    fileprivate var clampedInt64: Int64 { Int64(clamping: self) }
}

private func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
    let quotient = value / divisor
    return value % divisor < 0 ? quotient - 1 : quotient
}
