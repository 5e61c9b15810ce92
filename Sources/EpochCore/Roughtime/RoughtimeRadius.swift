/// RADI from the kernel's clock discipline (RFC 10049 §5.2.5): the server's bound on MIDP's error,
/// in whole seconds, never zero.
public enum RoughtimeRadius {
    /// The RFC's floor: servers without leap-second information SHOULD send at least 3 s, and
    /// this one has none (the kernel's leap state announces a second, not a table).
    public static let minimumSeconds: UInt32 = 3
    /// The kernel's cap on maxerror (NTP_PHASE_LIMIT, 16 s), used when it cannot be read.
    public static let unknownErrorSeconds: UInt32 = 16

    /// The kernel's maximum error, plus MIDP's rounding to the nearest second, rounded up; at least
    /// `minimumSeconds`.
    ///
    /// The server signs only while the clock is synchronized (`ClockDiscipline.isSynchronized`):
    /// an unsynchronized kernel's maxerror sits at its 16 s cap, which is a cap and not a bound,
    /// and RFC 10049 §5.2.5 says the true time MUST lie within MIDP ± RADI. Only a lab that asks
    /// for it (`--roughtime-serve-unsynchronized`) gets 16 s plus rounding, 17 s. A kernel that
    /// cannot be read at all gets the same 16 s. The reading comes aged to the moment of signing
    /// (`ClockState`), so RADI covers the 500 µs/s maxerror grows between readings.
    public static func seconds(for discipline: ClockDiscipline) -> UInt32 {
        let errorNanoseconds: Int64
        if discipline.failure != nil {
            errorNanoseconds = Int64(unknownErrorSeconds) * 1_000_000_000
        } else {
            errorNanoseconds = max(0, discipline.maxErrorNanoseconds)
        }
        let withRounding = errorNanoseconds + 500_000_000
        let seconds = (withRounding + 999_999_999) / 1_000_000_000
        return max(minimumSeconds, UInt32(clamping: seconds))
    }
}
