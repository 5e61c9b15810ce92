import Crypto
import FoundationEssentials

/// TLS 1.3's keying-material exporter (RFC 8446 §7.5), derived from the session's exporter master
/// secret. swift-nio-ssl 2.37.6 has no public exporter (its issue #593); its key-log callback hands
/// out the `EXPORTER_SECRET` line, and the rest is two HKDF-Expand-Label steps, done here with
/// swift-crypto's HKDF.
public struct TLSExporter: Sendable {
    /// The exporter master secret; its length says the handshake hash (32: SHA-256, 48: SHA-384,
    /// the hash of TLS_AES_256_GCM_SHA384, which chrony negotiates).
    private let secret: [UInt8]

    public struct Invalid: Error {}

    public init(exporterSecret: [UInt8]) throws(Invalid) {
        guard exporterSecret.count == 32 || exporterSecret.count == 48 else { throw Invalid() }
        secret = exporterSecret
    }

    /// The secret of an NSS key-log line `EXPORTER_SECRET <client random hex> <secret hex>`, the
    /// format swift-nio-ssl's keyLogCallback passes (BoringSSL's); nil for any other line.
    public static func exporterSecret(fromKeyLogLine line: [UInt8]) -> [UInt8]? {
        let fields = line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") })
        guard fields.count == 3, Array(fields[0]) == Array("EXPORTER_SECRET".utf8) else { return nil }
        return hexBytes(fields[2])
    }

    /// TLS-Exporter(label, context, length) = HKDF-Expand-Label(Derive-Secret(secret, label, ""),
    /// "exporter", Hash(context), length).
    public func export(label: String, context: [UInt8], length: Int) -> [UInt8] {
        if secret.count == 48 {
            return Self.export(SHA384.self, secret: secret, label: label, context: context, length: length)
        }
        return Self.export(SHA256.self, secret: secret, label: label, context: context, length: length)
    }

    /// NTS's C2S and S2C keys (RFC 8915 §5.1): label "EXPORTER-network-time-security", context the
    /// Next Protocol ID, the AEAD algorithm ID and 0x00 (C2S) or 0x01 (S2C).
    public func ntsKeys(for algorithm: NTSAEADAlgorithm, contextPerturbation: UInt8 = 0) -> NTSSessionKeys {
        func key(_ direction: UInt8) -> [UInt8] {
            let context: [UInt8] = [
                UInt8(ntsNextProtocolNTPv4 >> 8), UInt8(ntsNextProtocolNTPv4 & 0xFF),
                UInt8(algorithm.rawValue >> 8), UInt8(algorithm.rawValue & 0xFF), direction ^ contextPerturbation,
            ]
            return export(label: Self.ntsLabel, context: context, length: algorithm.keyByteCount)
        }
        return NTSSessionKeys(algorithm: algorithm, c2s: key(0), s2c: key(1))
    }

    public static let ntsLabel = "EXPORTER-network-time-security"

    private static func export<H: HashFunction>(
        _: H.Type, secret: [UInt8], label: String, context: [UInt8], length: Int
    ) -> [UInt8] {
        let emptyHash = Array(H.hash(data: [UInt8]()))
        let derived = expandLabel(H.self, secret: secret, label: label, context: emptyHash, length: H.Digest.byteCount)
        return expandLabel(
            H.self, secret: derived, label: "exporter", context: Array(H.hash(data: context)), length: length)
    }

    /// HKDF-Expand-Label (RFC 8446 §7.1): HKDF-Expand with the HkdfLabel structure as info.
    static func expandLabel<H: HashFunction>(
        _: H.Type, secret: [UInt8], label: String, context: [UInt8], length: Int
    ) -> [UInt8] {
        let fullLabel = Array("tls13 \(label)".utf8)
        var info: [UInt8] = [UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), UInt8(fullLabel.count)]
        info += fullLabel
        info.append(UInt8(context.count))
        info += context
        let key = HKDF<H>.expand(
            pseudoRandomKey: SymmetricKey(data: secret), info: info, outputByteCount: length)
        return key.withUnsafeBytes { Array($0) }
    }
}

/// The bytes of an even-length hex string, upper or lower case; nil for anything else.
func hexBytes<Text: Collection>(_ text: Text) -> [UInt8]? where Text.Element == UInt8 {
    guard text.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(text.count / 2)
    var high: UInt8?
    for character in text {
        let nibble: UInt8
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character - UInt8(ascii: "A") + 10
        default: return nil
        }
        if let first = high {
            out.append(first << 4 | nibble)
            high = nil
        } else {
            high = nibble
        }
    }
    return out
}

/// Lower-case hex of `bytes`.
func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}
