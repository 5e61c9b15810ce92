import ArgumentParser
import EpochCore
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

    @Option(
        help: """
            Reference ID of every reply, an IPv4 address: the NTP server that disciplines this node's \
            clock, so that chrony on that server detects the loop if it asks us (EPOCH_NTP_REFID; default 0).
            """)
    var ntpRefid: String?

    @Flag(
        help: """
            Limit responses per client address as chrony's `ratelimit` does; a limited client gets a \
            Kiss-o'-Death RATE. Behind SNAT many nodes share one address: raise the burst or leave it off \
            (EPOCH_NTP_RATE_LIMIT=1).
            """)
    var ntpRateLimit = false

    @Option(
        help: "log2 of the seconds between responses to one client, -19 to 12 (EPOCH_NTP_RATE_INTERVAL; default 3).")
    var ntpRateInterval: Int?

    @Option(help: "Responses a client may take back to back, 1-255 (EPOCH_NTP_RATE_BURST; default 8).")
    var ntpRateBurst: Int?

    @Option(help: "One in 2^N limited requests is answered anyway, 1-4 (EPOCH_NTP_RATE_LEAK; default 2).")
    var ntpRateLeak: Int?

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
        configuration.referenceID = try referenceID()
        configuration.rateLimit = try rateLimit()
        return configuration
    }

    private func referenceID() throws -> UInt32 {
        let accepts = "an IPv4 address A.B.C.D"
        if let flag = ntpRefid {
            guard let id = Self.ipv4(flag) else {
                throw CommandFailure.usage("--ntp-refid \(flag) is invalid: it accepts \(accepts)")
            }
            return id
        }
        return try resolve(nil, environment: "EPOCH_NTP_REFID", default: 0, accepts: accepts, parse: Self.ipv4)
    }

    /// A dotted-quad IPv4 address as the 32-bit reference ID (RFC 5905 §7.3), or nil.
    static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }), let octet = UInt8(part)
            else { return nil }
            value = value << 8 | UInt32(octet)
        }
        return value
    }

    private func rateLimit() throws -> ClientRateLimiter.Settings? {
        let on = try resolve(
            ntpRateLimit ? true : nil, environment: "EPOCH_NTP_RATE_LIMIT", default: false, accepts: "true or false"
        ) { ["true": true, "1": true, "false": false, "0": false][$0.lowercased()] }
        let defaults = ClientRateLimiter.Settings.chronyDefaults
        let setting = { (flag: Int?, environment: String, name: String, fallback: Int, range: ClosedRange<Int>) in
            let value = try resolve(
                flag, environment: environment, default: fallback,
                accepts: "an integer \(range.lowerBound) to \(range.upperBound)"
            ) { Int($0) }
            guard range.contains(value) else {
                throw CommandFailure.usage(
                    "--\(name) \(value) is invalid: it accepts an integer \(range.lowerBound) to \(range.upperBound)")
            }
            return value
        }
        let settings = ClientRateLimiter.Settings(
            intervalLog2: try setting(
                ntpRateInterval, "EPOCH_NTP_RATE_INTERVAL", "ntp-rate-interval", defaults.intervalLog2,
                ClientRateLimiter.Settings.intervalRange),
            burst: try setting(
                ntpRateBurst, "EPOCH_NTP_RATE_BURST", "ntp-rate-burst", defaults.burst,
                ClientRateLimiter.Settings.burstRange),
            leakLog2: try setting(
                ntpRateLeak, "EPOCH_NTP_RATE_LEAK", "ntp-rate-leak", defaults.leakLog2,
                ClientRateLimiter.Settings.leakRange))
        return on ? settings : nil
    }
}
