import EpochCore

/// What a server says about its own clock (the `clock` object of an epoch `/sync` answer): the
/// kernel's discipline on the server's machine.
public struct ServerClock: Sendable, Equatable, Decodable {
    public var synchronized: Bool
    /// The server kernel's maximum error, in nanoseconds; nil when it could not be read.
    public var maxErrorNanoseconds: Int64?
    public var estimatedErrorNanoseconds: Int64?
    /// `TIME_OK` … `TIME_ERROR`; nil when the kernel could not be read.
    public var state: String?

    public init(
        synchronized: Bool, maxErrorNanoseconds: Int64?, estimatedErrorNanoseconds: Int64? = nil, state: String?
    ) {
        self.synchronized = synchronized
        self.maxErrorNanoseconds = maxErrorNanoseconds
        self.estimatedErrorNanoseconds = estimatedErrorNanoseconds
        self.state = state
    }

    enum CodingKeys: String, CodingKey {
        case synchronized, state
        case maxErrorNanoseconds = "max_error_ns"
        case estimatedErrorNanoseconds = "estimated_error_ns"
    }

    /// Whether the numbers can be a kernel's: errors from 0 up to ~73 years, so that adding one
    /// to a bound cannot overflow.
    var isPlausible: Bool {
        [maxErrorNanoseconds, estimatedErrorNanoseconds].allSatisfy { ($0 ?? 0) >= 0 && ($0 ?? 0) < 1 << 61 }
    }

    /// "not synchronized (TIME_ERROR, maximum error 16s)", for sentences.
    public var summary: String {
        let error = maxErrorNanoseconds.map { "maximum error \(formatDuration(.nanoseconds($0)))" } ?? "error unknown"
        return "\(synchronized ? "synchronized" : "not synchronized") (\(state ?? "state unknown"), \(error))"
    }
}
