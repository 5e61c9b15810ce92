import EpochCore

/// The NTP server's settings (`epoch serve --ntp-port`), read once at start-up.
public struct NTPServerConfiguration: Sendable {
    /// Address to bind, the same as the HTTP server's `--host`.
    public var host = "0.0.0.0"
    /// UDP port to bind; 0 picks a free one (tests read it back from `NTPServer.boundAddress`).
    public var port = 123
    /// The stratum claimed while the kernel clock is synchronized (`--ntp-stratum`).
    public var stratum: UInt8 = 3
    /// Serve leap 0 (root dispersion 1 s) while the kernel reports its clock unsynchronized
    /// (`--ntp-serve-unsynchronized`).
    public var serveUnsynchronized = false
    /// The reference ID of every reply (`--ntp-refid A.B.C.D`); 0 when not given.
    public var referenceID: UInt32 = 0
    /// Per-client rate limiting with Kiss-o'-Death RATE (`--ntp-rate-limit`); nil when off.
    public var rateLimit: ClientRateLimiter.Settings?
    /// Shifts every timestamp served, as `--clock-skew` does for HTTP.
    public var clockSkew: Duration = .zero

    public init() {}
}
