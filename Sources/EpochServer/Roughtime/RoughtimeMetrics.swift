import CoreMetrics
import EpochCore

/// Roughtime's counters, registered in the server's one registry through its factory.
final class RoughtimeMetrics: Sendable {
    let requests: CoreMetrics.Counter
    let batches: CoreMetrics.Counter
    let signatures: CoreMetrics.Counter
    let delegations: CoreMetrics.Counter
    private let responses: [RoughtimeVersion: CoreMetrics.Counter]
    private let drops: [String: CoreMetrics.Counter]

    /// Every reason a datagram is dropped, so each series exists (at 0) from the start.
    static let dropReasons = [
        "too_short", "truncated_header", "bad_magic", "length_mismatch", "no_tags", "misaligned",
        "offsets_out_of_order", "offset_out_of_range", "tags_out_of_order", "bad_length", "missing_ver",
        "versions_unsorted", "unsupported_version", "missing_nonc", "bad_nonce", "missing_type", "bad_type",
        "wrong_server", "response_too_large", "signing_failed", "unsynchronized", "malformed",
    ]

    init(_ metrics: ServerMetrics) {
        let factory = metrics.metricsFactory
        requests = CoreMetrics.Counter(label: "roughtime_requests_total", factory: factory)
        batches = CoreMetrics.Counter(label: "roughtime_batches_total", factory: factory)
        signatures = CoreMetrics.Counter(label: "roughtime_signatures_total", factory: factory)
        delegations = CoreMetrics.Counter(label: "roughtime_delegations_total", factory: factory)
        var responses: [RoughtimeVersion: CoreMetrics.Counter] = [:]
        for version in RoughtimeVersion.allCases {
            responses[version] = CoreMetrics.Counter(
                label: "roughtime_responses_total", dimensions: [("version", version.description)], factory: factory)
        }
        self.responses = responses
        var drops: [String: CoreMetrics.Counter] = [:]
        for reason in Self.dropReasons {
            drops[reason] = CoreMetrics.Counter(
                label: "roughtime_dropped_total", dimensions: [("reason", reason)], factory: factory)
        }
        self.drops = drops
        for counter in [requests, batches, signatures, delegations] + Array(responses.values) + Array(drops.values) {
            counter.increment(by: 0)
        }
    }

    func countResponse(_ version: RoughtimeVersion) { responses[version]!.increment() }

    /// Reasons come from the codec's fixed set; anything else is counted as malformed.
    func countDrop(_ reason: String) { (drops[reason] ?? drops["malformed"]!).increment() }
}
