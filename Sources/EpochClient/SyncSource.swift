import EpochCore

/// An HTTP time source as a `ClockSource`: an epoch service's `/sync` (falling back to the
/// whole seconds of an original go-microepoch's `GET /`), or any server's `Date` header when
/// `options.dateHeader` is set. `epoch watch` and multi-source `check` measure it like any other.
public struct SyncSource: ClockSource {
    public let url: ServiceURL
    public let options: SamplingOptions

    public init(url: ServiceURL, options: SamplingOptions) {
        self.url = url
        self.options = options
    }

    public var name: String { url.description }

    public func measure() async throws(SyncFailure) -> SourceMeasurement {
        try await SyncClient.measure(url, options: options).measurement
    }
}
