/// The 48-byte NTP header (RFC 5905 §7.3), the whole of an SNTP/NTP client-server exchange.
/// Extension fields and MACs may follow it in a request; this server reads none of them, and its
/// replies are the bare header.
public struct NTPPacket: Sendable, Equatable {
    /// The header's size, and the size of every reply.
    public static let size = 48

    /// Leap indicator: a leap second warning, or `alarm` for an unsynchronized clock.
    public enum Leap: UInt8, Sendable {
        case none = 0
        case insertSecond = 1
        case deleteSecond = 2
        /// "Clock unsynchronized": clients must not use the answer.
        case alarm = 3
    }

    /// The association mode (RFC 5905 Figure 10).
    public enum Mode: UInt8, Sendable {
        case reserved = 0
        case symmetricActive = 1
        case symmetricPassive = 2
        case client = 3
        case server = 4
        case broadcast = 5
        /// NTP control messages (ntpq): answered with much more than they carry, an amplifier.
        case control = 6
        /// ntpdc's private mode (the monlist amplifier of CVE-2013-5211).
        case privateUse = 7
    }

    public var leap: Leap
    public var version: UInt8
    public var mode: Mode
    public var stratum: UInt8
    /// log2 of the poll interval in seconds.
    public var poll: Int8
    /// log2 of the clock's precision in seconds.
    public var precision: Int8
    public var rootDelay: NTPShort
    public var rootDispersion: NTPShort
    public var referenceID: UInt32
    public var referenceTime: NTPTimestamp
    public var originTime: NTPTimestamp
    public var receiveTime: NTPTimestamp
    public var transmitTime: NTPTimestamp

    public init(
        leap: Leap, version: UInt8, mode: Mode, stratum: UInt8, poll: Int8, precision: Int8,
        rootDelay: NTPShort = NTPShort(bits: 0), rootDispersion: NTPShort = NTPShort(bits: 0), referenceID: UInt32 = 0,
        referenceTime: NTPTimestamp = .zero, originTime: NTPTimestamp = .zero, receiveTime: NTPTimestamp = .zero,
        transmitTime: NTPTimestamp = .zero
    ) {
        self.leap = leap
        self.version = version
        self.mode = mode
        self.stratum = stratum
        self.poll = poll
        self.precision = precision
        self.rootDelay = rootDelay
        self.rootDispersion = rootDispersion
        self.referenceID = referenceID
        self.referenceTime = referenceTime
        self.originTime = originTime
        self.receiveTime = receiveTime
        self.transmitTime = transmitTime
    }

    /// Reads the header from the first 48 bytes of `bytes`; anything after it (extension fields,
    /// a MAC) is ignored. Every read is bounds-checked: a short packet is an error, never a trap.
    public init<Bytes: RandomAccessCollection>(parsing bytes: Bytes) throws(NTPPacketError)
    where Bytes.Element == UInt8 {
        guard bytes.count >= Self.size else { throw .tooShort(bytes.count) }
        var reader = HeaderReader(bytes: Array(bytes.prefix(Self.size)))
        let first = reader.byte()
        leap = Leap(rawValue: first >> 6)!  // two bits: every value is a case
        version = (first >> 3) & 0b111
        mode = Mode(rawValue: first & 0b111)!  // three bits: every value is a case
        stratum = reader.byte()
        poll = Int8(bitPattern: reader.byte())
        precision = Int8(bitPattern: reader.byte())
        rootDelay = NTPShort(bits: reader.word())
        rootDispersion = NTPShort(bits: reader.word())
        referenceID = reader.word()
        referenceTime = NTPTimestamp(bits: reader.timestamp())
        originTime = NTPTimestamp(bits: reader.timestamp())
        receiveTime = NTPTimestamp(bits: reader.timestamp())
        transmitTime = NTPTimestamp(bits: reader.timestamp())
    }

    /// The 48 bytes on the wire, network byte order.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.size)
        out.append(leap.rawValue << 6 | (version & 0b111) << 3 | mode.rawValue)
        out.append(stratum)
        out.append(UInt8(bitPattern: poll))
        out.append(UInt8(bitPattern: precision))
        for word in [rootDelay.bits, rootDispersion.bits, referenceID] { out.appendBigEndian(word) }
        for stamp in [referenceTime, originTime, receiveTime, transmitTime] { out.appendBigEndian(stamp.bits) }
        return out
    }
}

/// Why a datagram is not an NTP packet this server reads.
public enum NTPPacketError: Error, Equatable, Sendable, CustomStringConvertible {
    case tooShort(Int)

    public var description: String {
        switch self {
        case .tooShort(let count): "\(count) bytes, shorter than the 48-byte NTP header"
        }
    }
}

/// Reads a 48-byte array front to back; the caller has checked the length once.
private struct HeaderReader {
    let bytes: [UInt8]
    var index = 0

    mutating func byte() -> UInt8 {
        defer { index += 1 }
        return bytes[index]
    }

    mutating func word() -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 { value = value << 8 | UInt32(byte()) }
        return value
    }

    mutating func timestamp() -> UInt64 { UInt64(word()) << 32 | UInt64(word()) }
}

extension [UInt8] {
    fileprivate mutating func appendBigEndian<Value: FixedWidthInteger>(_ value: Value) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}

extension NTPPacket {
    /// Byte range of the transmit timestamp, the last field.
    static let transmitRange = 40..<48

    /// Overwrites the transmit timestamp of an encoded packet: the server encodes the reply first
    /// and stamps it last, so that nothing but the write follows the clock reading.
    public static func stamp(transmitTime: NTPTimestamp, into bytes: inout [UInt8]) {
        guard bytes.count >= size else { return }
        var bits = transmitTime.bits
        for index in transmitRange.reversed() {
            bytes[index] = UInt8(truncatingIfNeeded: bits)
            bits >>= 8
        }
    }
}
