/// What the server answers to one datagram: a pure function of the request, the time it arrived
/// and the kernel's clock discipline, so that every rule below is unit-tested without a socket.
public struct NTPResponder: Sendable {
    /// The stratum this server claims while its clock is synchronized (1 + the stratum of whatever
    /// disciplines the kernel, which adjtimex does not say: the operator does).
    public var stratum: UInt8
    /// log2 of this clock's resolution in seconds.
    public var precision: Int8
    /// Answer with leap 0 and `labRootDispersionNanoseconds` although the kernel says its clock is
    /// unsynchronized (labs and tests, whose kernels nobody disciplines).
    public var serveUnsynchronized: Bool

    /// The root dispersion claimed when serving an unsynchronized clock on purpose. The kernel's
    /// own figure is then its 16 s cap, which every client rejects (chrony refuses 16 s outright,
    /// ntpd anything over 1.5 s); 1 s passes both, and says "believe me, roughly".
    public static let labRootDispersionNanoseconds: Int64 = 1_000_000_000

    /// RFC 5905 Figure 11: stratum 16 means unsynchronized. Not 0, which in a server reply
    /// would make it a Kiss-o'-Death packet.
    public static let unsynchronizedStratum: UInt8 = 16

    /// The reference ID of every reply (`--ntp-refid`): for a server at stratum 2 or more, the IPv4
    /// address of its upstream (RFC 5905 §7.3). chrony compares it with its own address to detect
    /// a synchronization loop; 0 (the default) says nothing and so switches that test off.
    public var referenceID: UInt32

    public init(stratum: UInt8, precision: Int8, serveUnsynchronized: Bool, referenceID: UInt32 = 0) {
        self.stratum = stratum
        self.precision = precision
        self.serveUnsynchronized = serveUnsynchronized
        self.referenceID = referenceID
    }

    public enum Decision: Equatable, Sendable {
        /// Send this packet once its transmit timestamp is set, just before the write.
        case reply(NTPPacket)
        /// Send nothing; count the drop by `reason`.
        case drop(NTPDropReason)
    }

    /// The answer to `request`, received at `receivedAt` (the server's clock, skew applied).
    public func respond<Bytes: RandomAccessCollection>(
        to request: Bytes, receivedAt: UnixNanoseconds, discipline: ClockDiscipline
    ) -> Decision where Bytes.Element == UInt8 {
        if let problem = NTPRequestLength.problem(count: request.count) { return .drop(problem) }
        let packet: NTPPacket
        do {
            packet = try NTPPacket(parsing: request)
        } catch {
            return .drop(.tooShort)
        }
        switch packet.mode {
        case .client: break
        case .control: return .drop(.controlMode)
        case .privateUse: return .drop(.privateMode)
        default: return .drop(.notClientMode)
        }
        // Versions 1-4 are answered in kind (RFC 5905 §9.2 / RFC 4330 §5); 0 and 5-7 are not NTP.
        guard (1...4).contains(packet.version) else { return .drop(.badVersion) }
        // A zero transmit timestamp (the classic `0x1b` + 47 zero bytes) is answered with a zero
        // origin, as RFC 4330 §5 and chrony do: the origin echoes whatever the client sent, and
        // RFC 5905's bogus-packet test is the client's to make, not the server's.

        let synchronized = discipline.isSynchronized
        let serving = synchronized || serveUnsynchronized
        var reply = NTPPacket(
            leap: serving ? Self.leap(of: discipline) : .alarm, version: packet.version, mode: .server,
            stratum: serving ? stratum : Self.unsynchronizedStratum, poll: packet.poll, precision: precision,
            // The kernel's max error already holds the upstream's whole root distance (the daemon
            // that disciplines it sets maxerror from it), so it is the dispersion and the delay is 0.
            rootDelay: NTPShort(bits: 0),
            rootDispersion: NTPShort(
                nanoseconds: synchronized || !serveUnsynchronized
                    ? discipline.maxErrorNanoseconds : Self.labRootDispersionNanoseconds),
            referenceID: referenceID, originTime: packet.transmitTime,
            receiveTime: NTPTimestamp(unixNanoseconds: receivedAt))
        // adjtimex does not say when the clock was last corrected; the receive time is the latest
        // moment this server vouches for, and stays before the transmit time, as clients check.
        reply.referenceTime = serving ? reply.receiveTime : .zero
        return .reply(reply)
    }

    /// A pending leap second the kernel knows of is announced, as RFC 5905's LI field is for.
    /// While one is being inserted (TIME_OOP) the clock repeats a second, so the reply says
    /// "unsynchronized" (leap 3), as chrony does while a leap is in progress.
    static func leap(of discipline: ClockDiscipline) -> NTPPacket.Leap {
        switch discipline.state {
        case .insertLeapSecond: .insertSecond
        case .deleteLeapSecond: .deleteSecond
        case .leapSecondInProgress: .alarm
        default: .none
        }
    }

    /// The Kiss-o'-Death RATE for a rate-limited client (RFC 5905 §7.4): stratum 0, the ASCII
    /// code as the reference ID, leap 3, the client's transmit time as the origin, and the limit's
    /// interval as the poll. Built from the reply the client would have had, and no larger.
    public static func rateKiss(replacing reply: NTPPacket, minimumPollLog2: Int) -> NTPPacket {
        var kiss = reply
        kiss.leap = .alarm
        kiss.stratum = 0
        kiss.referenceID = kissCodeRATE
        kiss.referenceTime = .zero
        kiss.poll = max(reply.poll, Int8(clamping: minimumPollLog2))
        return kiss
    }

    /// "RATE" in ASCII, the kiss code that tells a client to slow down.
    public static let kissCodeRATE: UInt32 = 0x5241_5445
}

/// Why a datagram got no answer: the `reason` label of `ntp_dropped_packets_total`.
public enum NTPDropReason: String, Sendable, CaseIterable {
    case tooShort = "too_short"
    case badVersion = "bad_version"
    case controlMode = "control_mode"
    case privateMode = "private_mode"
    case notClientMode = "not_client_mode"
    /// Not 48 bytes plus a multiple of 4 (`NTPRequestLength`).
    case badLength = "bad_length"
}

extension NTPResponder {
    /// RFC 5905's precision: the largest p with 2^p seconds ≥ the clock's resolution, i.e. log2
    /// of the resolution rounded up (1 ns, Linux's CLOCK_REALTIME resolution, gives -29).
    public static func precision(resolutionNanoseconds: Int64) -> Int8 {
        let resolution = Double(max(1, resolutionNanoseconds))
        var exponent: Int8 = 0
        var span = 1e9  // 2^exponent seconds, in nanoseconds
        while exponent > -32, span / 2 >= resolution {
            span /= 2
            exponent -= 1
        }
        return exponent
    }
}
