/// How well the kernel says CLOCK_REALTIME is kept: what `adjtimex(2)` with `modes = 0` reports.
///
/// An NTP daemon (chrony, ntpd, timesyncd) that disciplines the clock keeps these fields up to
/// date; on an undisciplined machine the kernel reports `TIME_ERROR`, `STA_UNSYNC` and a maximum
/// error that has grown to its 16 s cap. Every bound this service publishes starts from here.
public struct ClockDiscipline: Sendable, Equatable {
    /// adjtimex's return value: the clock state of RFC 1589 / `sys/timex.h`.
    public enum State: Int32, Sendable {
        case ok = 0
        case insertLeapSecond = 1
        case deleteLeapSecond = 2
        case leapSecondInProgress = 3
        case leapSecondOccurred = 4
        case error = 5

        /// node_exporter's and ntp_adjtime(3)'s spelling, for logs and JSON.
        public var name: String {
            switch self {
            case .ok: "TIME_OK"
            case .insertLeapSecond: "TIME_INS"
            case .deleteLeapSecond: "TIME_DEL"
            case .leapSecondInProgress: "TIME_OOP"
            case .leapSecondOccurred: "TIME_WAIT"
            case .error: "TIME_ERROR"
            }
        }
    }

    /// `STA_UNSYNC`: set by the kernel (or the daemon) while the clock is not synchronized.
    public static let statusUnsynchronized: Int32 = 0x0040

    /// The `STA_*` bits of `sys/timex.h` by value, lowest first.
    static let statusBitNames: [(Int32, String)] = [
        (0x0001, "STA_PLL"), (0x0002, "STA_PPSFREQ"), (0x0004, "STA_PPSTIME"), (0x0008, "STA_FLL"),
        (0x0010, "STA_INS"), (0x0020, "STA_DEL"), (0x0040, "STA_UNSYNC"), (0x0080, "STA_FREQHOLD"),
        (0x0100, "STA_PPSSIGNAL"), (0x0200, "STA_PPSJITTER"), (0x0400, "STA_PPSWANDER"),
        (0x0800, "STA_PPSERROR"), (0x1000, "STA_CLOCKERR"), (0x2000, "STA_NANO"), (0x4000, "STA_MODE"),
        (0x8000, "STA_CLK"),
    ]

    /// The names of the status bits that are set, e.g. `["STA_UNSYNC"]`.
    public var statusNames: [String] {
        Self.statusBitNames.filter { status & $0.0 != 0 }.map(\.1)
    }

    /// The clock state; nil when the kernel could not be asked (see `failure`).
    public var state: State?
    /// The `STA_*` status bits.
    public var status: Int32
    /// The kernel's maximum error of CLOCK_REALTIME (`maxerror`), in nanoseconds.
    public var maxErrorNanoseconds: Int64
    /// The kernel's estimated error (`esterror`), in nanoseconds.
    public var estimatedErrorNanoseconds: Int64
    /// Why the kernel could not be read, e.g. `adjtimex: Operation not permitted`.
    public var failure: String?

    public init(
        state: State?, status: Int32, maxErrorNanoseconds: Int64, estimatedErrorNanoseconds: Int64,
        failure: String? = nil
    ) {
        self.state = state
        self.status = status
        self.maxErrorNanoseconds = maxErrorNanoseconds
        self.estimatedErrorNanoseconds = estimatedErrorNanoseconds
        self.failure = failure
    }

    /// A reading that could not be taken: treated as unsynchronized, with an unknown error.
    public static func unavailable(_ failure: String) -> ClockDiscipline {
        ClockDiscipline(
            state: nil, status: statusUnsynchronized, maxErrorNanoseconds: 0, estimatedErrorNanoseconds: 0,
            failure: failure)
    }

    /// The kernel's cap on maxerror, NTP_PHASE_LIMIT: an undisciplined clock's maxerror grows by
    /// 500 µs a second (MAXFREQ) until it sits here, and the kernel sets STA_UNSYNC when it does.
    public static let maxErrorCapNanoseconds: Int64 = 16_000_000_000

    /// How fast the kernel lets maxerror grow between a daemon's updates: MAXFREQ, 500 ppm.
    public static let maxErrorGrowthPerSecondNanoseconds: Int64 = 500_000

    /// The one rule for "synchronized", used by every protocol and command: the kernel can be read
    /// and its maximum error is below the 16 s cap, i.e. something disciplined the clock within the
    /// last ~9 hours and the error the kernel vouches for is real.
    ///
    /// `STA_UNSYNC` and the `TIME_ERROR` state do not decide: on Linux, chrony leaves STA_UNSYNC set
    /// unless `rtcsync` is configured (chrony's sys_timex.c), and the kernel then answers TIME_ERROR
    /// while maxerror is a few milliseconds. systemd-timedated decides by `maxerror < 16 s` for the
    /// same reason. Both are still reported (`/clock`, the metrics), for people, not for this rule.
    public var isSynchronized: Bool {
        guard state != nil, failure == nil else { return false }
        return maxErrorNanoseconds >= 0 && maxErrorNanoseconds < Self.maxErrorCapNanoseconds
    }

    /// The reading as it stands `ageNanoseconds` after it was taken: maxerror grown at the kernel's
    /// 500 µs/s (rounded up) and capped at 16 s, as the kernel itself would report it by then. A
    /// bound served from a cached reading is never smaller than the kernel's at the moment of serving.
    public func aged(by ageNanoseconds: Int64) -> ClockDiscipline {
        guard failure == nil, ageNanoseconds > 0 else { return self }
        // 500 µs/s is 1/2000; rounded up to whole microseconds, the kernel's unit, so the growth
        // is never understated.
        let growth = (min(ageNanoseconds, Self.maxErrorCapNanoseconds * 2000) + 1_999_999) / 2_000_000 * 1_000
        var aged = self
        aged.maxErrorNanoseconds = min(Self.maxErrorCapNanoseconds, maxErrorNanoseconds + growth)
        return aged
    }

    /// One line a person can act on.
    public var reason: String {
        if let failure { return "the kernel clock state cannot be read (\(failure))" }
        let bound = formatDuration(.nanoseconds(maxErrorNanoseconds))
        let flags = "\(state?.name ?? "?"), STA_UNSYNC\(status & Self.statusUnsynchronized != 0 ? " set" : " clear")"
        if isSynchronized {
            return "the kernel clock is synchronized (maximum error \(bound) below the 16s cap; \(flags))"
        }
        return "the kernel clock is not synchronized (maximum error \(bound), at the 16s cap; \(flags)): "
            + "no NTP daemon has disciplined it"
    }
}

/// Where a clock-discipline reading comes from: the kernel in production, a fixed value in tests.
public protocol ClockDisciplineSource: Sendable {
    func read() -> ClockDiscipline
}

/// A fixed reading, for tests of the synchronized path on a machine whose kernel is not.
public struct FixedClockDiscipline: ClockDisciplineSource {
    public let reading: ClockDiscipline
    public init(_ reading: ClockDiscipline) { self.reading = reading }
    public func read() -> ClockDiscipline { reading }
}
