/// One request/response exchange, the four timestamps of RFC 5905 §8 in Unix nanoseconds:
/// t1 client send, t2 server receive, t3 server send, t4 client receive.
public struct SyncSample: Sendable, Equatable {
    public var t1: Int64
    public var t2: Int64
    public var t3: Int64
    public var t4: Int64
    /// How much further CLOCK_REALTIME moved than CLOCK_MONOTONIC between t1 and t4 (both read
    /// together at each end): a step of the local clock during the exchange, plus the few
    /// nanoseconds between the two reads. Slewing moves both clocks alike and does not show here.
    public var localStep: Int64

    public init(t1: Int64, t2: Int64, t3: Int64, t4: Int64, localStep: Int64 = 0) {
        (self.t1, self.t2, self.t3, self.t4, self.localStep) = (t1, t2, t3, t4, localStep)
    }

    /// A sample from a server's answer, or nil when its timestamps are impossible: t3 before t2,
    /// or either more than ~73 years from our own. Past that check no difference the estimate
    /// takes can overflow, whatever a server sends.
    public static func checked(t1: Int64, t2: Int64, t3: Int64, t4: Int64, localStep: Int64 = 0) -> SyncSample? {
        guard t3 >= t2, isNear(t2, t1), isNear(t3, t4), localStep.magnitude < 1 << 61 else { return nil }
        return SyncSample(t1: t1, t2: t2, t3: t3, t4: t4, localStep: localStep)
    }

    /// θ = ((t2 − t1) + (t3 − t4)) / 2: how far the server's clock is ahead of ours, exact when
    /// the request and the response spend equal time on the network.
    public var offset: Int64 { ((t2 - t1) + (t3 - t4)) / 2 }

    /// δ = (t4 − t1) − (t3 − t2): the round trip minus the server's own processing time. Negative
    /// when the server claims to have held the request longer than the whole round trip: it lies,
    /// or a clock stepped during the exchange. Such an exchange is rejected (`rejection`), never
    /// clamped to a perfect 0.
    public var delay: Int64 { (t4 - t1) - (t3 - t2) }

    /// The largest local step an exchange may show and still be used (its size is then added to
    /// the bound): the two clock reads at each end are a few hundred nanoseconds apart unless the
    /// thread is preempted between them.
    public static let localStepTolerance: Int64 = 1_000_000

    /// Why this exchange cannot be used (RFC 5905 §8: δ must not be negative; an exchange during
    /// which the local clock stepped measures nothing), or nil.
    public var rejection: SyncRejection? {
        if delay < 0 { return .negativeDelay }
        if localStep.magnitude > Self.localStepTolerance { return .localClockStepped }
        return nil
    }
}

/// Why an exchange was left out of the estimate (`--json` lists them by these names).
public enum SyncRejection: String, Sendable, Equatable {
    /// t3 − t2 exceeds t4 − t1: the server's timestamps are inconsistent with the round trip.
    case negativeDelay = "negative_delay"
    /// CLOCK_REALTIME stepped against CLOCK_MONOTONIC during the exchange.
    case localClockStepped = "local_clock_stepped"
}

/// The answer to "how far is my clock from the server's?", with an honest error bound.
public struct OffsetEstimate: Sendable, Equatable {
    /// Server clock minus local clock: positive means this clock is behind.
    public var offset: Int64
    /// The round-trip delay of the sample the offset comes from.
    public var delay: Int64
    /// The true offset lies within offset ± errorBound: with any split of the delay between the
    /// two directions, θ can be wrong by at most δ/2 (plus the server's resolution).
    public var errorBound: Int64
    public var samples: Int
    /// Largest minus smallest offset over all samples: how much the others disagree.
    public var spread: Int64
    /// True when only whole seconds were available (an original go-microepoch server).
    public var wholeSecondsOnly: Bool
    /// The exchanges left out, and why, in the order they were made.
    public var rejected: [SyncRejection] = []

    /// How far beyond `limit` the clock may be: |θ| + bound − limit (≤ 0 means within).
    public func excess(over limit: Int64) -> Int64 {
        abs(offset) + errorBound - limit
    }
}

/// RFC 5905's frequency tolerance φ, 15 ppm: how fast either clock may drift during an exchange.
public let frequencyTolerancePPM: Int64 = 15

/// NTP's clock filter in its simplest form: of several exchanges, trust the one with the least
/// delay, because the least-delayed sample has the least room for asymmetry. Exchanges with a
/// `rejection` are left out and listed; nil when none is left.
///
/// The bound is RFC 5905's δ/2 + ε (§8 and §10), with ε = both sides' precision plus φ·(t4 − t1),
/// φ = 15 ppm, plus whatever the local clock moved against CLOCK_MONOTONIC (`localStep`).
///
/// - Parameters:
///   - resolution: the server timestamps' granularity (its precision). Whole-second servers are
///     not estimated here but by `WholeSecondInterval`, which does far better than +1 s.
///   - localPrecision: this clock's resolution (clock_getres), in nanoseconds.
public func estimateOffset(_ samples: [SyncSample], resolution: Int64 = 0, localPrecision: Int64 = 0) -> OffsetEstimate?
{
    let usable = samples.filter { $0.rejection == nil }
    guard let best = usable.min(by: { $0.delay < $1.delay }) else { return nil }
    let offsets = usable.map(\.offset)
    let drift = ((best.t4 - best.t1) * frequencyTolerancePPM + 999_999) / 1_000_000
    let epsilon = resolution + localPrecision + drift + best.localStep.magnitude.clampedToInt64
    return OffsetEstimate(
        offset: best.offset,
        delay: best.delay,
        errorBound: (best.delay + 1) / 2 + epsilon,
        samples: usable.count,
        spread: offsets.max()! - offsets.min()!,
        wholeSecondsOnly: resolution >= 1_000_000_000,
        rejected: samples.compactMap(\.rejection)
    )
}

extension UInt64 {
    fileprivate var clampedToInt64: Int64 { Int64(clamping: self) }
}

/// Whether two times are within 2^61 ns (~73 years) of each other.
private func isNear(_ a: Int64, _ b: Int64) -> Bool {
    let (difference, overflow) = a.subtractingReportingOverflow(b)
    return !overflow && difference.magnitude < 1 << 61
}
