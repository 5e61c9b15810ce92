import ArgumentParser
import EpochServer

/// `epoch serve`'s NTP options. The NTP server is off unless a port is given.
struct NTPArguments: ParsableArguments {
    @Option(help: "Also answer NTP/SNTP client requests on this UDP port, 0-65535 (EPOCH_NTP_PORT; default: off).")
    var ntpPort: Int?

    @Option(
        help: """
            Stratum to claim while the kernel clock is synchronized, 2-15: one more than the stratum of \
            the NTP daemon that disciplines it (EPOCH_NTP_STRATUM; default 3).
            """)
    var ntpStratum: Int?

    @Flag(
        help: """
            While the kernel reports its clock unsynchronized, answer NTP as if it were synchronized \
            (leap 0, root dispersion 1 s) instead of leap 3 (alarm), which makes clients refuse this \
            server. For labs and tests whose kernel nobody disciplines (EPOCH_NTP_SERVE_UNSYNCHRONIZED=1).
            """)
    var ntpServeUnsynchronized = false

    /// The NTP server's configuration, or nil when NTP is off.
    func configuration(host: String, clockSkew: Duration) throws -> NTPServerConfiguration? {
        guard let port = try resolvePort(ntpPort, option: "--ntp-port", environment: "EPOCH_NTP_PORT") else {
            return nil
        }
        let stratum = try resolve(ntpStratum, environment: "EPOCH_NTP_STRATUM", default: 3, accepts: "a stratum 2-15") {
            Int($0)
        }
        try check(stratum, in: 2...15, option: "--ntp-stratum", accepts: "a stratum 2-15")
        let serveUnsynchronized = try resolve(ntpServeUnsynchronized, environment: "EPOCH_NTP_SERVE_UNSYNCHRONIZED")
        var configuration = NTPServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.stratum = UInt8(stratum)
        configuration.serveUnsynchronized = serveUnsynchronized
        configuration.clockSkew = clockSkew
        return configuration
    }
}
