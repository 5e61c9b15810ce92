/// A time source's claim about this clock: the source's time minus ours lies in
/// `offset − bound … offset + bound` (nanoseconds).
public struct OffsetInterval: Sendable, Equatable {
    public var source: String
    public var offset: Int64
    public var bound: Int64

    public init(source: String, offset: Int64, bound: Int64) {
        self.source = source
        self.offset = offset
        self.bound = max(0, bound)
    }

    public var lower: Int64 { offset &- bound }
    public var upper: Int64 { offset &+ bound }
}

/// Which sources agree: the largest group whose intervals share a common point, and the
/// intersection they share (Marzullo's algorithm, the core of NTP's intersection step, RFC 5905
/// §11.2.1). A source outside the group is a falseticker for this set: its interval cannot hold
/// the truth if the majority's do.
public struct SourceAgreement: Sendable, Equatable {
    /// Sources in the largest mutually overlapping group, in the order given.
    public var agreeing: [String]
    /// The other sources, in the order given.
    public var disagreeing: [String]
    /// The range of offsets every agreeing source allows (empty input: nil).
    public var intersection: ClosedRange<Int64>?

    /// True when no source disagrees.
    public var isUnanimous: Bool { disagreeing.isEmpty }

    /// True when the agreeing group is a strict majority of all sources (NTP's criterion for
    /// trusting the group over the rest).
    public var hasMajority: Bool { agreeing.count * 2 > agreeing.count + disagreeing.count }

    /// The sources that can be trusted: the agreeing group when it is a strict majority, none
    /// otherwise. A tie between two groups (one against one, two against two) trusts neither:
    /// nothing says which group holds the truth. `check` and `watch` both decide by this.
    public var trusted: [String] { hasMajority ? agreeing : [] }

    public init(_ intervals: [OffsetInterval]) {
        guard !intervals.isEmpty else {
            (agreeing, disagreeing, intersection) = ([], [], nil)
            return
        }
        // Sweep the interval ends in order; a start before an end at the same point, since
        // closed intervals that touch do overlap.
        let edges = intervals.flatMap { [($0.lower, 1), ($0.upper, -1)] }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 > $1.1 }
        var open = 0
        var best = 0
        var bestPoint = edges[0].0
        for (point, step) in edges {
            open += step
            if open > best { (best, bestPoint) = (open, point) }
        }
        let inside = intervals.map { $0.lower <= bestPoint && bestPoint <= $0.upper }
        let group = zip(intervals, inside).filter(\.1).map(\.0)
        agreeing = group.map(\.source)
        disagreeing = zip(intervals, inside).filter { !$0.1 }.map(\.0.source)
        intersection = group.map(\.lower).max()!...group.map(\.upper).min()!
    }
}
