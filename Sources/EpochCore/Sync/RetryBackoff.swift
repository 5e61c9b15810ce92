/// When to ask a failing source again: after each consecutive failure the wait doubles, from
/// `base` up to `cap`, and one success resets it. `epoch watch` uses it for Roughtime sources, whose
/// servers RFC 10049 asks clients not to hammer with retries when they do not answer.
public struct RetryBackoff: Sendable, Equatable {
    public let base: Duration
    public let cap: Duration
    /// Consecutive failures so far.
    public private(set) var failures = 0

    public init(base: Duration, cap: Duration) {
        self.base = max(base, .nanoseconds(1))
        self.cap = max(cap, self.base)
    }

    /// The wait before the next attempt: zero after a success, else base · 2^(failures − 1), at most `cap`.
    public var delay: Duration {
        guard failures > 0 else { return .zero }
        var wait = base
        for _ in 1..<failures {
            wait = wait * 2
            if wait >= cap { return cap }
        }
        return min(wait, cap)
    }

    public mutating func recordFailure() { failures += 1 }
    public mutating func recordSuccess() { failures = 0 }
}
