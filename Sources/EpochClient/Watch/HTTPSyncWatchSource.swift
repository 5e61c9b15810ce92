import EpochCore

/// An epoch service's `/sync` as a `ClockSource`, for `epoch watch`.
///
/// A thin adapter over `SyncClient` until the client's own `ClockSource` conformance (issue 11)
/// lands on main; then this file goes.
public struct HTTPSyncWatchSource: ClockSource {
    public let url: ServiceURL
    public let options: SamplingOptions

    public init(url: ServiceURL, options: SamplingOptions) {
        self.url = url
        self.options = options
    }

    public var name: String { url.description }

    public func measure() async throws(SyncFailure) -> SourceMeasurement {
        let result = try await SyncClient.measure(url, options: options)
        let estimate = result.estimate
        return SourceMeasurement(
            source: name, kind: estimate.wholeSecondsOnly ? .wholeSeconds : .httpSync, offset: estimate.offset,
            errorBound: estimate.errorBound, roundTrip: estimate.delay, samples: estimate.samples)
    }
}
