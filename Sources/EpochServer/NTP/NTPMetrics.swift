import EpochCore
import Prometheus

/// The NTP server's counters, registered once in the process's registry and then only
/// incremented (a lock-free atomic add per packet).
struct NTPMetrics: Sendable {
    private let replies: [NTPPacket.Leap: Counter]
    private let drops: [NTPDropReason: Counter]
    private let readErrors: Counter
    private let rateKisses: Counter

    init(registry: PrometheusCollectorRegistry) {
        var replies: [NTPPacket.Leap: Counter] = [:]
        for leap in [NTPPacket.Leap.none, .insertSecond, .deleteSecond, .alarm] {
            replies[leap] = registry.makeCounter(
                descriptor: .init(
                    metricName: "epoch_ntp_replies_total", unitName: "",
                    helpText: "NTP server replies sent, by leap indicator (alarm: the clock is unsynchronized)."),
                labels: [("leap", Self.label(leap))])
        }
        var drops: [NTPDropReason: Counter] = [:]
        for reason in NTPDropReason.allCases {
            drops[reason] = registry.makeCounter(
                descriptor: .init(
                    metricName: "epoch_ntp_dropped_packets_total", unitName: "",
                    helpText: "Datagrams on the NTP port that got no answer, by reason."),
                labels: [("reason", reason.rawValue)])
        }
        self.replies = replies
        self.drops = drops
        self.rateKisses = registry.makeCounter(
            descriptor: .init(
                metricName: "epoch_ntp_kiss_of_death_total", unitName: "",
                helpText: "Kiss-o'-Death replies sent instead of an answer, by kiss code (RATE: --ntp-rate-limit)."),
            labels: [("code", "RATE")])
        self.readErrors = registry.makeCounter(
            descriptor: .init(
                metricName: "epoch_ntp_socket_errors_total", unitName: "",
                helpText: "Errors reported by the NTP socket (the server keeps serving)."))
    }

    func replied(_ leap: NTPPacket.Leap) { replies[leap]?.increment() }
    func dropped(_ reason: NTPDropReason) { drops[reason]?.increment() }
    func socketError() { readErrors.increment() }
    func rateLimited() { rateKisses.increment() }

    private static func label(_ leap: NTPPacket.Leap) -> String {
        switch leap {
        case .none: "none"
        case .insertSecond: "insert_second"
        case .deleteSecond: "delete_second"
        case .alarm: "alarm"
        }
    }
}
