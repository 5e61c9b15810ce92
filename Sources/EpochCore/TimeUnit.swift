/// The resolution a client asks `GET /?unit=` for. `sec` is the original go-microepoch's.
public enum TimeUnit: String, CaseIterable, Sendable {
    case sec, ms, us, ns

    /// The accepted `unit=` values, in the order the error message lists them.
    public static let acceptedValues = allCases.map(\.rawValue).joined(separator: ", ")

    /// How many nanoseconds one unit holds.
    public var nanoseconds: Int64 {
        switch self {
        case .sec: 1_000_000_000
        case .ms: 1_000_000
        case .us: 1_000
        case .ns: 1
        }
    }

    /// `nanoseconds` since the Unix epoch expressed in this unit, rounded toward the past
    /// (so `sec` is the same whole second `time(2)` reports, also before 1970).
    public func count(ofNanoseconds nanoseconds: Int64) -> Int64 {
        let (quotient, remainder) = nanoseconds.quotientAndRemainder(dividingBy: self.nanoseconds)
        return remainder < 0 ? quotient - 1 : quotient
    }
}
