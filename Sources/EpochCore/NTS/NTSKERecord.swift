/// One NTS-KE record (RFC 8915 §4): a critical bit and 15-bit type, a 16-bit body length, the body.
public struct NTSKERecord: Sendable, Equatable {
    public var critical: Bool
    public var type: UInt16
    public var body: [UInt8]

    public init(critical: Bool, type: NTSKERecordType, body: [UInt8] = []) {
        self.init(critical: critical, rawType: type.rawValue, body: body)
    }

    public init(critical: Bool, rawType: UInt16, body: [UInt8]) {
        self.critical = critical
        self.type = rawType & 0x7FFF
        self.body = body
    }

    /// The record on the wire. A body over 65,535 bytes cannot be framed; no caller makes one.
    public var bytes: [UInt8] {
        let word = (critical ? 0x8000 : 0) | type
        return [UInt8(word >> 8), UInt8(word & 0xFF), UInt8(body.count >> 8 & 0xFF), UInt8(body.count & 0xFF)] + body
    }

    /// The record's 16-bit values (Next Protocol, AEAD Algorithm, Error, Warning and Port bodies);
    /// nil when the body is not a whole number of them.
    public var uint16Values: [UInt16]? {
        guard body.count % 2 == 0 else { return nil }
        return stride(from: 0, to: body.count, by: 2).map { UInt16(body[$0]) << 8 | UInt16(body[$0 + 1]) }
    }

    /// Reads the records at the front of `bytes` up to and including End of Message. `.incomplete`
    /// asks for more bytes (the caller bounds how many); anything after End of Message is an error,
    /// as a request has one message.
    public static func parseMessage<Bytes: RandomAccessCollection>(_ bytes: Bytes) -> MessageParse
    where Bytes.Element == UInt8, Bytes.Index == Int {
        var records: [NTSKERecord] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            guard bytes.endIndex - index >= 4 else { return .incomplete }
            let word = UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
            let length = Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
            guard bytes.endIndex - index - 4 >= length else { return .incomplete }
            let record = NTSKERecord(
                critical: word & 0x8000 != 0, rawType: word, body: Array(bytes[(index + 4)..<(index + 4 + length)]))
            index += 4 + length
            records.append(record)
            if record.type == NTSKERecordType.endOfMessage.rawValue {
                return index == bytes.endIndex ? .complete(records) : .trailingBytes
            }
        }
        return .incomplete
    }

    public enum MessageParse: Equatable, Sendable {
        case complete([NTSKERecord])
        case incomplete
        /// Bytes follow End of Message.
        case trailingBytes
    }
}

/// RFC 8915 §7.6's record types.
public enum NTSKERecordType: UInt16, Sendable {
    case endOfMessage = 0
    case nextProtocol = 1
    case error = 2
    case warning = 3
    case aeadAlgorithm = 4
    case newCookie = 5
    case server = 6
    case port = 7
}

/// RFC 8915 §7.7's error codes.
public enum NTSKEErrorCode: UInt16, Sendable {
    case unrecognizedCriticalRecord = 0
    case badRequest = 1
    case internalServerError = 2
}

/// Next Protocol 0: NTPv4 (RFC 8915 §7.2), the only protocol NTS-KE negotiates today.
public let ntsNextProtocolNTPv4: UInt16 = 0
