import EpochCore

/// The NTP server's settings (`epoch serve --ntp-port`), read once at start-up.
package struct NTPServerConfiguration: Sendable {
    /// Address to bind, the same as the HTTP server's `--host`.
    package var host = "0.0.0.0"
    /// UDP port to bind; 0 picks a free one (tests read it back from `NTPServer.boundAddress`).
    package var port = 123
    /// The stratum claimed while the kernel clock is synchronized (`--ntp-stratum`).
    package var stratum: UInt8 = 3
    /// Serve leap 0 (root dispersion 1 s) while the kernel reports its clock unsynchronized
    /// (`--ntp-serve-unsynchronized`).
    package var serveUnsynchronized = false
    /// The reference ID of every reply (`--ntp-refid A.B.C.D`); 0 when not given.
    package var referenceID: UInt32 = 0
    /// Per-client rate limiting with Kiss-o'-Death RATE (`--ntp-rate-limit`); nil when off.
    package var rateLimit: ClientRateLimiter.Settings?
    /// Shifts every timestamp served, as `--clock-skew` does for HTTP.
    package var clockSkew: Duration = .zero

    package init() {}
}
