/// The decision `epoch check` makes, as a rule any Swift service can apply to its own clock at
/// start-up: the clock passes only when it is certainly within `limit` of its sources.
///
/// - Every source's claim is an `OffsetInterval` (offset ± bound). The sources must agree
///   (Marzullo's intersection, `SourceAgreement`); when one does not, which source is wrong is
///   unknown, so the check cannot say anything about this clock (exit 2).
/// - A source that says its own clock is unsynchronized cannot be trusted (exit 1), unless the
///   caller takes its clock as the reference anyway (`allowUnsynchronized`).
/// - Then the offset range the sources agree on must lie within ±`limit`: for one source,
///   |offset| + bound ≤ limit (exit 1 otherwise).
///
/// The command line only formats the verdict.
public enum ClockCheck {
    public enum Verdict: Sendable, Equatable {
        /// Within the limit: `agreed` is the range of offsets every source allows.
        case passed(agreed: ClosedRange<Int64>)
        /// The sources' intervals do not all overlap; `majority` when the agreeing group is one.
        case sourcesDisagree(agreeing: [String], disagreeing: [String], majority: Bool)
        /// Sources that report their own clock unsynchronized.
        case unsynchronized(sources: [String])
        /// The agreed range reaches beyond the limit by `excess` nanoseconds.
        case beyondLimit(agreed: ClosedRange<Int64>, excess: Int64)

        /// The exit status of `epoch check`: 0 passed, 1 this clock (or its reference) is not
        /// good enough, 2 the sources cannot be used.
        public var exitCode: Int32 {
            switch self {
            case .passed: 0
            case .unsynchronized, .beyondLimit: 1
            case .sourcesDisagree: 2
            }
        }
    }

    /// The verdict for `intervals` (at least one), where `unsynchronized` names the sources that
    /// report their own clock unsynchronized and `limit` is in nanoseconds.
    public static func judge(
        _ intervals: [OffsetInterval], unsynchronized: [String], allowUnsynchronized: Bool, limit: Int64
    ) -> Verdict {
        precondition(!intervals.isEmpty, "a clock check needs a source")
        let agreement = SourceAgreement(intervals)
        guard agreement.isUnanimous else {
            return .sourcesDisagree(
                agreeing: agreement.agreeing, disagreeing: agreement.disagreeing, majority: agreement.hasMajority)
        }
        if !unsynchronized.isEmpty && !allowUnsynchronized {
            return .unsynchronized(sources: unsynchronized)
        }
        let agreed = agreement.intersection!
        let excess = max(abs(agreed.lowerBound), abs(agreed.upperBound)) - limit
        return excess > 0 ? .beyondLimit(agreed: agreed, excess: excess) : .passed(agreed: agreed)
    }
}
