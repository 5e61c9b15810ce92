import Crypto
import FoundationEssentials
import _CryptoExtras

/// AEAD_AES_SIV_CMAC_256 (RFC 5297), the AEAD every NTS implementation must offer (RFC 8915 §5.1)
/// and the only one chrony 4.3 accepts. swift-crypto has its two primitives, AES-CMAC and AES-CTR,
/// but not their composition; this is only that composition (S2V, then CTR under the synthetic IV),
/// held to RFC 5297 Appendix A.1 and A.2 by the unit tests. No cipher of its own.
public struct AESSIVCMAC256: Sendable {
    /// 32 bytes: K1 (the first half) keys S2V's CMAC, K2 (the second) the CTR encryption.
    public static let keyByteCount = 32
    /// The synthetic IV that leads every ciphertext, and authenticates it.
    public static let tagByteCount = 16

    /// A CMAC with K1's key schedule and subkeys done once; each message's MAC starts from a copy
    /// (the struct is copy-on-write), which is cheaper than a new key schedule per S2V component.
    private let keyedMAC: AES.CMAC
    private let encryptionKey: SymmetricKey

    public struct InvalidKey: Error {}

    public init<Key: Collection>(key: Key) throws(InvalidKey) where Key.Element == UInt8 {
        guard key.count == Self.keyByteCount else { throw InvalidKey() }
        let bytes = Array(key)
        // AES.CMAC throws only for a key that is not 128, 192 or 256 bits; K1 is always 128.
        keyedMAC = try! AES.CMAC(key: SymmetricKey(data: bytes[0..<16]))
        encryptionKey = SymmetricKey(data: bytes[16..<32])
    }

    /// SIV-Encrypt: the 16-byte synthetic IV, then the ciphertext, as one array.
    /// `associatedData` are S2V's components in order (NTS: the packet, then the nonce).
    public func seal(_ plaintext: [UInt8], associatedData: [[UInt8]]) -> [UInt8] {
        let iv = s2v(associatedData, plaintext)
        return iv + ctr(plaintext, iv: iv)
    }

    /// SIV-Decrypt: the plaintext, or nil when the tag does not authenticate every component.
    public func open(_ sealed: [UInt8], associatedData: [[UInt8]]) -> [UInt8]? {
        guard sealed.count >= Self.tagByteCount else { return nil }
        let iv = Array(sealed[0..<Self.tagByteCount])
        let plaintext = ctr(Array(sealed[Self.tagByteCount...]), iv: iv)
        let expected = s2v(associatedData, plaintext)
        return constantTimeEqual(expected, iv) ? plaintext : nil
    }

    /// RFC 5297 §2.4: S2V over the associated data components and the plaintext (never empty here:
    /// every caller passes at least one component).
    func s2v(_ components: [[UInt8]], _ plaintext: [UInt8]) -> [UInt8] {
        var d = cmac([UInt8](repeating: 0, count: 16))
        for component in components {
            d = xor(doubled(d), cmac(component))
        }
        let t: [UInt8]
        if plaintext.count >= 16 {
            var last = plaintext
            let offset = plaintext.count - 16
            for index in 0..<16 { last[offset + index] ^= d[index] }  // xorend
            t = last
        } else {
            var padded = plaintext
            padded.append(0x80)
            padded += [UInt8](repeating: 0, count: 16 - padded.count)
            t = xor(doubled(d), padded)
        }
        return cmac(t)
    }

    private func cmac(_ message: [UInt8]) -> [UInt8] {
        var mac = keyedMAC
        mac.update(data: message)
        return Array(mac.finalize())
    }

    /// AES-CTR under Q, the IV with bits 63 and 31 cleared (§2.6), so that implementations with a
    /// 32- or 64-bit counter agree with the 128-bit one.
    private func ctr(_ input: [UInt8], iv: [UInt8]) -> [UInt8] {
        guard !input.isEmpty else { return [] }
        var q = iv
        q[8] &= 0x7F
        q[12] &= 0x7F
        // 16 nonce bytes are always accepted, and the key is 128 bits: neither call can throw.
        let nonce = try! AES._CTR.Nonce(nonceBytes: q)
        return Array(try! AES._CTR.encrypt(input, using: encryptionKey, nonce: nonce))
    }

    /// dbl(): multiplication by x in GF(2^128), RFC 5297 §2.3.
    private func doubled(_ block: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        var carry: UInt8 = 0
        for index in stride(from: 15, through: 0, by: -1) {
            out[index] = block[index] << 1 | carry
            carry = block[index] >> 7
        }
        // Constant time: the reduction is applied by mask, not by branch on the secret top bit.
        out[15] ^= 0x87 & (0 &- carry)
        return out
    }

    private func xor(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var out = a
        for index in 0..<out.count { out[index] ^= b[index] }
        return out
    }
}

/// Compares two byte strings in time that depends on their lengths only, never on where they first
/// differ: a tag check that returned early would tell a forger how many leading bytes were right.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<a.count { difference |= a[index] ^ b[index] }
    return difference == 0
}
