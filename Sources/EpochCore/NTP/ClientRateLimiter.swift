/// Per-client response rate limiting with chrony's `ratelimit` semantics (chrony 4.3,
/// clientlog.c), for the NTP server and anything else answering unauthenticated datagrams.
///
/// Each client address has a token bucket: one response's worth of credit accrues every
/// 2^`intervalLog2` seconds, up to `burst` responses, and a new client starts with a full bucket.
/// A request finding a whole response's credit spends it and is answered. A request finding less
/// is limited, except that on average one in 2^`leakLog2` is let through anyway (and empties the
/// bucket), so that a flood with a victim's spoofed address cannot silence the victim.
///
/// Memory is bounded: the table has `buckets` × `slotsPerBucket` records, placed by a hash of
/// the address; a new client takes the least recently seen record of its bucket, as chrony's
/// table replaces its oldest record when full. A forgotten client starts again with a full bucket.
public struct ClientRateLimiter: Sendable {
    /// A client address: IPv4 is kept as an IPv4-mapped IPv6 address, so one key type holds both.
    public struct Address: Hashable, Sendable {
        public var high: UInt64
        public var low: UInt64
        public init(high: UInt64, low: UInt64) { (self.high, self.low) = (high, low) }
        public init(ipv4 bytes: (UInt8, UInt8, UInt8, UInt8)) {
            high = 0
            low =
                0xFFFF_0000_0000 | UInt64(bytes.0) << 24 | UInt64(bytes.1) << 16 | UInt64(bytes.2) << 8
                | UInt64(bytes.3)
        }
    }

    public struct Settings: Sendable, Equatable {
        /// log2 of the mean seconds between responses to one client (chrony's `interval`, default 3: 8 s).
        public var intervalLog2: Int
        /// Responses a client may take back to back after a quiet spell (chrony's `burst`, default 8).
        public var burst: Int
        /// One limited request in 2^leakLog2 is answered anyway (chrony's `leak`, default 2).
        public var leakLog2: Int

        public static let chronyDefaults = Settings(intervalLog2: 3, burst: 8, leakLog2: 2)
        /// chrony's accepted ranges.
        public static let intervalRange = -19...12
        public static let burstRange = 1...255
        public static let leakRange = 1...4

        public init(intervalLog2: Int, burst: Int, leakLog2: Int) {
            (self.intervalLog2, self.burst, self.leakLog2) = (intervalLog2, burst, leakLog2)
        }

        /// The credit one response costs, in nanoseconds of accrual.
        var costNanoseconds: Int64 {
            intervalLog2 >= 0 ? 1_000_000_000 << Int64(intervalLog2) : 1_000_000_000 >> Int64(-intervalLog2)
        }
    }

    public enum Verdict: Equatable, Sendable {
        /// Within the client's rate: answer.
        case answer
        /// Over the rate, but the leak lets this one through: answer.
        case leaked
        /// Over the rate: do not answer normally (the NTP server sends a Kiss-o'-Death RATE).
        case limited
    }

    private struct Record {
        var address: Address
        var credit: Int64
        var lastSeen: Int64
    }

    public let settings: Settings
    private let buckets: Int
    private let slotsPerBucket: Int
    private var table: [Record?]

    /// The table's capacity in client records.
    public var capacity: Int { buckets * slotsPerBucket }

    /// `buckets` is rounded up to a power of two. The default holds 16,384 clients in about 512 KiB.
    public init(settings: Settings, buckets: Int = 4096, slotsPerBucket: Int = 4) {
        self.settings = settings
        var count = 1
        while count < max(1, buckets) { count <<= 1 }
        self.buckets = count
        self.slotsPerBucket = max(1, slotsPerBucket)
        self.table = Array(repeating: nil, count: count * self.slotsPerBucket)
    }

    /// Records one request from `address` at `now` (any monotonic nanosecond clock) and says
    /// whether to answer it. `random` decides the leak.
    public mutating func admit<Random: RandomNumberGenerator>(
        _ address: Address, now: Int64, random: inout Random
    ) -> Verdict {
        let cost = settings.costNanoseconds
        let full = cost * Int64(settings.burst)
        let first = bucketIndex(address) * slotsPerBucket
        var slot: Int?
        var oldest = first
        for index in first..<(first + slotsPerBucket) {
            guard let record = table[index] else {
                if slot == nil { slot = index }
                continue
            }
            if record.address == address {
                slot = index
                break
            }
            if let current = table[oldest], record.lastSeen < current.lastSeen { oldest = index }
        }
        let index = slot ?? oldest
        var record: Record
        if let existing = table[index], existing.address == address {
            record = existing
            let elapsed = max(0, now - record.lastSeen)
            record.credit = min(full, record.credit + min(elapsed, full))
        } else {
            record = Record(address: address, credit: full, lastSeen: now)
        }
        record.lastSeen = max(record.lastSeen, now)
        let verdict: Verdict
        if record.credit >= cost {
            record.credit -= cost
            verdict = .answer
        } else if random.next(upperBound: UInt64(1) << UInt64(settings.leakLog2)) == 0 {
            record.credit = 0
            verdict = .leaked
        } else {
            verdict = .limited
        }
        table[index] = record
        return verdict
    }

    private func bucketIndex(_ address: Address) -> Int {
        // A fixed multiplicative mix (not Hasher: its per-process seed is not needed against
        // collisions here, since a collision costs a client its bucket, never memory).
        var mixed = address.high &* 0x9E37_79B9_7F4A_7C15 ^ address.low
        mixed = (mixed ^ (mixed >> 31)) &* 0xBF58_476D_1CE4_E5B9
        mixed ^= mixed >> 29
        return Int(truncatingIfNeeded: mixed) & (buckets - 1)
    }
}
