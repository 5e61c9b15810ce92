import EpochCore

/// The kinds of time source `epoch sync`, `epoch check` and `epoch watch` measure against.
public enum SourceKind: String, Sendable {
    /// An epoch service's `GET /sync`: four timestamps at nanosecond resolution.
    case httpSync = "http-sync"
    /// A server answering whole seconds in `GET /` (the original go-microepoch).
    case wholeSeconds = "whole-seconds"
    /// Any HTTP(S) server's `Date` header (whole seconds).
    case dateHeader = "date-header"
    /// A signed Roughtime answer (RFC 10049).
    case roughtime
}

/// What one measurement of a time source found, in the terms every source shares.
public struct SourceMeasurement: Sendable {
    /// The source as the user named it (a URL).
    public var source: String
    public var kind: SourceKind
    /// The source's clock minus this one, in nanoseconds: positive means this clock is behind.
    public var offset: Int64
    /// The whole error bound in nanoseconds: the true offset lies in offset ± errorBound. It
    /// includes the network's share, the source's resolution and the source's own reported error.
    public var errorBound: Int64
    /// The error the source reports for its own clock (its kernel's max error, Roughtime's RADI),
    /// in nanoseconds; nil when the source does not say.
    public var sourceError: Int64?
    /// Whether the source says its clock is synchronized; nil when it does not say.
    public var sourceSynchronized: Bool?
    /// The round trip of the exchange the offset comes from, in nanoseconds.
    public var roundTrip: Int64
    /// Exchanges made.
    public var samples: Int

    public init(
        source: String, kind: SourceKind, offset: Int64, errorBound: Int64, sourceError: Int64? = nil,
        sourceSynchronized: Bool? = nil, roundTrip: Int64, samples: Int
    ) {
        self.source = source
        self.kind = kind
        self.offset = offset
        self.errorBound = errorBound
        self.sourceError = sourceError
        self.sourceSynchronized = sourceSynchronized
        self.roundTrip = roundTrip
        self.samples = samples
    }

    /// The measurement as an interval, for `SourceAgreement`.
    public var interval: OffsetInterval { OffsetInterval(source: source, offset: offset, bound: errorBound) }
}

/// A source that can be measured repeatedly (`epoch watch` measures each every `--interval`).
public protocol ClockSource: Sendable {
    /// The source as the user named it.
    var name: String { get }
    func measure() async throws(SyncFailure) -> SourceMeasurement
}
