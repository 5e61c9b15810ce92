/// One request/response exchange, the four timestamps of RFC 5905 §8 in Unix nanoseconds:
/// t1 client send, t2 server receive, t3 server send, t4 client receive.
public struct SyncSample: Sendable, Equatable {
    public var t1: Int64
    public var t2: Int64
    public var t3: Int64
    public var t4: Int64

    public init(t1: Int64, t2: Int64, t3: Int64, t4: Int64) {
        (self.t1, self.t2, self.t3, self.t4) = (t1, t2, t3, t4)
    }

    /// A sample from a server's answer, or nil when its timestamps are impossible: t3 before t2,
    /// or either more than ~73 years from our own. Past that check no difference the estimate
    /// takes can overflow, whatever a server sends.
    public static func checked(t1: Int64, t2: Int64, t3: Int64, t4: Int64) -> SyncSample? {
        guard t3 >= t2, isNear(t2, t1), isNear(t3, t4) else { return nil }
        return SyncSample(t1: t1, t2: t2, t3: t3, t4: t4)
    }

    /// θ = ((t2 − t1) + (t3 − t4)) / 2: how far the server's clock is ahead of ours, exact when
    /// the request and the response spend equal time on the network.
    public var offset: Int64 { ((t2 - t1) + (t3 - t4)) / 2 }

    /// δ = (t4 − t1) − (t3 − t2): the round trip minus the server's own processing time, clamped
    /// at 0 (a clock stepped mid-exchange can make it negative).
    public var delay: Int64 { max(0, (t4 - t1) - (t3 - t2)) }
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

    /// How far beyond `limit` the clock may be: |θ| + bound − limit (≤ 0 means within).
    public func excess(over limit: Int64) -> Int64 {
        abs(offset) + errorBound - limit
    }
}

/// NTP's clock filter in its simplest form: of several exchanges, trust the one with the least
/// delay, because the least-delayed sample has the least room for asymmetry.
///
/// - Parameter resolution: the server timestamps' granularity, added to the bound. (Whole-second
///   servers are not estimated here but by `WholeSecondInterval`, which does far better than +1 s.)
public func estimateOffset(_ samples: [SyncSample], resolution: Int64 = 0) -> OffsetEstimate? {
    guard let best = samples.min(by: { $0.delay < $1.delay }) else { return nil }
    let offsets = samples.map(\.offset)
    return OffsetEstimate(
        offset: best.offset,
        delay: best.delay,
        errorBound: (best.delay + 1) / 2 + resolution,
        samples: samples.count,
        spread: offsets.max()! - offsets.min()!,
        wholeSecondsOnly: resolution >= 1_000_000_000
    )
}

/// Whether two times are within 2^61 ns (~73 years) of each other.
private func isNear(_ a: Int64, _ b: Int64) -> Bool {
    let (difference, overflow) = a.subtractingReportingOverflow(b)
    return !overflow && difference.magnitude < 1 << 61
}
