/// A Roughtime tag: four ASCII bytes read as a little-endian `uint32` (RFC 10049 §5.1; three-letter
/// tags are padded with a zero byte, so `SIG` is 0x00474953). Messages sort their tags by this value.
public struct RoughtimeTag: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `name` is at most four ASCII letters.
    init(_ name: StaticString) {
        var value: UInt32 = 0
        name.withUTF8Buffer { bytes in
            precondition(bytes.count <= 4, "a Roughtime tag has at most four letters")
            for (index, byte) in bytes.enumerated() { value |= UInt32(byte) << (8 * UInt32(index)) }
        }
        rawValue = value
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The tag's letters, or its hex value when they are not printable (tags come from the wire).
    public var description: String {
        let bytes = (0..<4).map { UInt8(truncatingIfNeeded: rawValue >> (8 * $0)) }
        let letters = bytes.last == 0 ? bytes.dropLast() : bytes[...]
        if letters.allSatisfy({ (0x21...0x7E).contains($0) }) {
            return String(decoding: letters, as: UTF8.self)
        }
        return "0x" + String(rawValue, radix: 16)
    }

    public static let sig = RoughtimeTag("SIG")
    public static let ver = RoughtimeTag("VER")
    public static let srv = RoughtimeTag("SRV")
    public static let nonc = RoughtimeTag("NONC")
    public static let dele = RoughtimeTag("DELE")
    public static let type = RoughtimeTag("TYPE")
    public static let path = RoughtimeTag("PATH")
    public static let radi = RoughtimeTag("RADI")
    public static let pubk = RoughtimeTag("PUBK")
    public static let midp = RoughtimeTag("MIDP")
    public static let srep = RoughtimeTag("SREP")
    public static let vers = RoughtimeTag("VERS")
    public static let mint = RoughtimeTag("MINT")
    public static let root = RoughtimeTag("ROOT")
    public static let cert = RoughtimeTag("CERT")
    public static let maxt = RoughtimeTag("MAXT")
    public static let indx = RoughtimeTag("INDX")
    public static let zzzz = RoughtimeTag("ZZZZ")
}
