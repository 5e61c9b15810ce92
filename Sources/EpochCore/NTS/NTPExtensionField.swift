/// One NTP extension field (RFC 7822): a 16-bit type, a 16-bit length counting the whole field
/// (header, body, padding) in a multiple of 4, and the body.
public struct NTPExtensionField: Sendable, Equatable {
    public var type: UInt16
    /// The body, padding included.
    public var body: ArraySlice<UInt8>
    /// Where the whole field sits in the packet.
    public var range: Range<Int>

    /// The NTS field types (RFC 8915 §7.5).
    public static let uniqueIdentifier: UInt16 = 0x0104
    public static let ntsCookie: UInt16 = 0x0204
    public static let ntsCookiePlaceholder: UInt16 = 0x0304
    public static let ntsAuthenticator: UInt16 = 0x0404

    public static let ntsTypes: Set<UInt16> = [uniqueIdentifier, ntsCookie, ntsCookiePlaceholder, ntsAuthenticator]

    /// Splits `bytes[offset...]` into fields; nil unless they tile it exactly, each at least the
    /// 4-byte header and a multiple of 4 long (RFC 7822 §3; RFC 8915 §5.7 lifts the 16-byte
    /// minimum for NTS fields, which chrony relies on).
    public static func parseAll(_ bytes: [UInt8], from offset: Int) -> [NTPExtensionField]? {
        var fields: [NTPExtensionField] = []
        var index = offset
        while index < bytes.count {
            guard bytes.count - index >= 4 else { return nil }
            let type = UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
            let length = Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
            guard length >= 4, length % 4 == 0, bytes.count - index >= length else { return nil }
            fields.append(
                NTPExtensionField(
                    type: type, body: bytes[(index + 4)..<(index + length)], range: index..<(index + length)))
            index += length
        }
        return fields
    }

    /// A field of `type` around `body`, zero-padded to a multiple of 4.
    public static func encode(type: UInt16, body: [UInt8]) -> [UInt8] {
        let padded = (body.count + 3) / 4 * 4
        let length = 4 + padded
        return [UInt8(type >> 8), UInt8(type & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + body
            + [UInt8](repeating: 0, count: padded - body.count)
    }
}
