import EpochCore
import Prometheus

/// NTS's counters: one NTS-KE session per TLS connection, one NTS request per NTP datagram that
/// carries NTS extension fields, each counted once by how it ended. Every series exists at 0 from
/// the start.
public struct NTSMetrics: Sendable {
    private let sessions: [String: Counter]
    private let requests: [String: Counter]

    /// How an NTS-KE connection ended besides the exchange's own outcomes.
    public enum SessionEnd: String, Sendable, CaseIterable {
        /// The client did not negotiate ALPN `ntske/1`.
        case alpnMismatch = "alpn_mismatch"
        /// The handshake failed (no TLS 1.3, a client that does not trust the certificate, garbage).
        case tlsError = "tls_error"
        /// No complete request within the time bound, or the stream closed first.
        case incomplete
        /// More than NTSKEExchange.maxRequestBytes before End of Message, or bytes after it.
        case oversized
    }

    /// `result` of `epoch_ntp_nts_requests_total` besides the responder's failures.
    public static let authenticated = "authenticated"
    /// A plain request dropped because of `--nts-required`.
    public static let unauthenticatedRefused = "unauthenticated_refused"

    public init(registry: PrometheusCollectorRegistry) {
        var sessions: [String: Counter] = [:]
        let sessionResults =
            NTSKEExchange.Outcome.allCases.map(\.rawValue) + SessionEnd.allCases.map(\.rawValue)
        for result in sessionResults {
            sessions[result] = registry.makeCounter(
                descriptor: .init(
                    metricName: "epoch_nts_ke_sessions_total", unitName: "",
                    helpText: "NTS-KE (RFC 8915) connections, by how they ended (ok: keys and 8 cookies sent)."),
                labels: [("result", result)])
        }
        var requests: [String: Counter] = [:]
        let requestResults =
            [Self.authenticated, Self.unauthenticatedRefused] + NTSNTPResponder.Failure.allCases.map(\.rawValue)
        for result in requestResults {
            requests[result] = registry.makeCounter(
                descriptor: .init(
                    metricName: "epoch_ntp_nts_requests_total", unitName: "",
                    helpText:
                        "NTP requests with NTS fields, by result (authenticated: a sealed reply; the rest got none, "
                        + "but nak_unknown_cookie an NTS NAK)."),
                labels: [("result", result)])
        }
        self.sessions = sessions
        self.requests = requests
    }

    func session(_ outcome: NTSKEExchange.Outcome) { sessions[outcome.rawValue]?.increment() }
    func session(_ end: SessionEnd) { sessions[end.rawValue]?.increment() }
    func request(_ result: String) { requests[result]?.increment() }
}
