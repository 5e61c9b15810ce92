/// The protocol versions this implementation speaks, and what differs between them on the wire.
public enum RoughtimeVersion: UInt32, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// RFC 10049's version 1.
    case rfc = 0x0000_0001
    /// The number drafts 12 to 19 use, which deployed servers (roughenough, roughtimed) speak.
    case draft12 = 0x8000_000C

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { self == .rfc ? "1" : "0x" + String(rawValue, radix: 16) }

    /// Every version served, ascending: the server's VERS list and the client's default VER list.
    public static let supported: [RoughtimeVersion] = allCases.sorted()

    /// The prefix of a signed SREP, with its terminating zero byte.
    ///
    /// The RFC spells it "Roughtime" for version 1, as its §5.2.5 gives it; the drafts (and the
    /// servers deployed for 0x8000000c) spell it "RoughTime". We follow the RFC for version 1 and
    /// the drafts for 0x8000000c.
    public var responseContext: [UInt8] {
        Array((self == .rfc ? "Roughtime v1 response signature" : "RoughTime v1 response signature").utf8) + [0]
    }

    /// The prefix of a signed DELE, with its terminating zero byte (same spelling rule as above).
    public var delegationContext: [UInt8] {
        Array((self == .rfc ? "Roughtime v1 delegation signature" : "RoughTime v1 delegation signature").utf8) + [0]
    }

    /// Whether a request must carry TYPE 0. The RFC requires it; for 0x8000000c only drafts 14 and
    /// later do, and drafts 12–13 share the number, so it is optional there.
    public var requiresType: Bool { self == .rfc }

    /// The version to answer a client that offered `offered` (its VER list): the RFC's version
    /// when offered, else the draft's; nil when there is no common version.
    public static func negotiate(_ offered: [UInt32]) -> RoughtimeVersion? {
        if offered.contains(RoughtimeVersion.rfc.rawValue) { return .rfc }
        if offered.contains(RoughtimeVersion.draft12.rawValue) { return .draft12 }
        return nil
    }
}
