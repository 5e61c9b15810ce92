import Crypto
import FoundationEssentials
import _CryptoExtras

/// The AEAD algorithms NTS negotiates (RFC 8915 §4.1.5, IANA's AEAD registry numbers): the
/// mandatory AES-SIV-CMAC-256, the only one chrony 4.3 offers, and AES-128-GCM-SIV (RFC 8452),
/// which chrony 4.4 and later prefer. Both resist nonce reuse, which NTS requires.
public enum NTSAEADAlgorithm: UInt16, Sendable, CaseIterable {
    case aesSIVCMAC256 = 15
    case aes128GCMSIV = 30

    /// The preference when a client offers several: the faster GCM-SIV first (ntpd-rs and chrony
    /// 4.4 order them the same way), then the mandatory SIV-CMAC.
    public static let preference: [NTSAEADAlgorithm] = [.aes128GCMSIV, .aesSIVCMAC256]

    /// The C2S and S2C keys' length, which the TLS exporter is asked for.
    public var keyByteCount: Int {
        switch self {
        case .aesSIVCMAC256: AESSIVCMAC256.keyByteCount
        case .aes128GCMSIV: 16
        }
    }

    /// The nonce this server puts in its authenticators. SIV-CMAC takes any length; 16 random bytes
    /// as chrony sends. GCM-SIV's nonce is 12 bytes exactly.
    public var nonceByteCount: Int {
        switch self {
        case .aesSIVCMAC256: 16
        case .aes128GCMSIV: 12
        }
    }

    /// What a ciphertext adds to its plaintext: the tag.
    public var overheadByteCount: Int { 16 }

    /// Seals `plaintext`, authenticating `associatedData` and `nonce` (for SIV-CMAC the nonce is
    /// S2V's last associated-data component, RFC 5297 §3). Nil for a key or nonce of the wrong size.
    public func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]) -> [UInt8]? {
        guard key.count == keyByteCount else { return nil }
        switch self {
        case .aesSIVCMAC256:
            guard let cipher = try? AESSIVCMAC256(key: key) else { return nil }
            return cipher.seal(plaintext, associatedData: [associatedData, nonce])
        case .aes128GCMSIV:
            guard let gcmNonce = try? AES.GCM._SIV.Nonce(data: nonce),
                let box = try? AES.GCM._SIV.seal(
                    plaintext, using: SymmetricKey(data: key), nonce: gcmNonce, authenticating: associatedData)
            else { return nil }
            return Array(box.ciphertext) + Array(box.tag)
        }
    }

    /// Opens what `seal` made; nil unless every byte of the ciphertext, nonce and associated data
    /// is authentic.
    public func open(_ ciphertext: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]) -> [UInt8]? {
        guard key.count == keyByteCount, ciphertext.count >= overheadByteCount else { return nil }
        switch self {
        case .aesSIVCMAC256:
            guard let cipher = try? AESSIVCMAC256(key: key) else { return nil }
            return cipher.open(ciphertext, associatedData: [associatedData, nonce])
        case .aes128GCMSIV:
            let split = ciphertext.count - overheadByteCount
            guard let gcmNonce = try? AES.GCM._SIV.Nonce(data: nonce),
                let box = try? AES.GCM._SIV.SealedBox(
                    nonce: gcmNonce, ciphertext: ciphertext[..<split], tag: ciphertext[split...]),
                let plaintext = try? AES.GCM._SIV.open(
                    box, using: SymmetricKey(data: key), authenticating: associatedData)
            else { return nil }
            return Array(plaintext)
        }
    }
}
