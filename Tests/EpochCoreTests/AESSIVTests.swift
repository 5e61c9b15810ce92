import Testing

@testable import EpochCore

/// AES-SIV-CMAC-256 against RFC 5297's Appendix A; tampering with any part fails to open.
@Suite struct AESSIVTests {
    static func hex(_ text: String) -> [UInt8] {
        hexBytes(Array(text.filter { !$0.isWhitespace }.utf8))!
    }

    // A.1: deterministic authenticated encryption (one associated-data component, no nonce).
    static let a1Key = hex("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff")
    static let a1AD = hex("10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627")
    static let a1Plaintext = hex("11223344 55667788 99aabbcc ddee")
    static let a1Output = hex("85632d07 c6e8f37f 950acd32 0a2ecc93 40c02b96 90c4dc04 daef7f6a fe5c")

    // A.2: nonce-based (two associated-data components, then the nonce).
    static let a2Key = hex("7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f")
    static let a2AD1 = hex(
        "00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100")
    static let a2AD2 = hex("10203040 50607080 90a0")
    static let a2Nonce = hex("09f91102 9d74e35b d84156c5 635688c0")
    static let a2Plaintext = hex(
        "74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720 5349562d 414553")
    static let a2Output = hex(
        """
        7bdb6e3b 432667eb 06f4d14b ff2fbd0f cb900f2f ddbe4043 26601965 c889bf17 dba77ceb 094fa663 b7a3f748 \
        ba8af829 ea64ad54 4a272e9c 485b62a3 fd5c0d
        """)

    @Test func rfc5297A1() throws {
        let cipher = try AESSIVCMAC256(key: Self.a1Key)
        #expect(cipher.seal(Self.a1Plaintext, associatedData: [Self.a1AD]) == Self.a1Output)
        #expect(cipher.open(Self.a1Output, associatedData: [Self.a1AD]) == Self.a1Plaintext)
    }

    @Test func rfc5297A2() throws {
        let cipher = try AESSIVCMAC256(key: Self.a2Key)
        let components = [Self.a2AD1, Self.a2AD2, Self.a2Nonce]
        #expect(cipher.seal(Self.a2Plaintext, associatedData: components) == Self.a2Output)
        #expect(cipher.open(Self.a2Output, associatedData: components) == Self.a2Plaintext)
    }

    /// The control of the vectors: flip each bit of the tag, the ciphertext, the associated data or
    /// the nonce in turn, and nothing opens.
    @Test func anyTamperingFailsToOpen() throws {
        let cipher = try AESSIVCMAC256(key: Self.a2Key)
        for index in 0..<Self.a2Output.count {
            for bit in 0..<8 {
                var tampered = Self.a2Output
                tampered[index] ^= 1 << bit
                #expect(cipher.open(tampered, associatedData: [Self.a2AD1, Self.a2AD2, Self.a2Nonce]) == nil)
            }
        }
        var nonce = Self.a2Nonce
        nonce[15] ^= 1
        #expect(cipher.open(Self.a2Output, associatedData: [Self.a2AD1, Self.a2AD2, nonce]) == nil)
        #expect(cipher.open(Self.a2Output, associatedData: [Self.a2AD1, Self.a2Nonce]) == nil)
        #expect(cipher.open(Array(Self.a2Output.prefix(15)), associatedData: [Self.a2AD1]) == nil)
    }

    @Test func shortAndBlockSizedPlaintextsRoundTrip() throws {
        let cipher = try AESSIVCMAC256(key: Self.a1Key)
        for length in [0, 1, 15, 16, 17, 32, 100] {
            let plaintext = (0..<length).map { UInt8($0 & 0xFF) }
            let sealed = cipher.seal(plaintext, associatedData: [[1, 2, 3], [4]])
            #expect(sealed.count == plaintext.count + 16)
            #expect(cipher.open(sealed, associatedData: [[1, 2, 3], [4]]) == plaintext)
        }
    }

    @Test func constantTimeEqualCompares() {
        #expect(constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2]))
    }

    @Test func aes128GCMSIVRoundTripsAndRejectsTampering() {
        let key = [UInt8](repeating: 7, count: 16)
        let nonce = [UInt8](repeating: 9, count: 12)
        let sealed = NTSAEADAlgorithm.aes128GCMSIV.seal([1, 2, 3, 4], key: key, nonce: nonce, associatedData: [5])!
        #expect(
            NTSAEADAlgorithm.aes128GCMSIV.open(sealed, key: key, nonce: nonce, associatedData: [5]) == [1, 2, 3, 4])
        #expect(NTSAEADAlgorithm.aes128GCMSIV.open(sealed, key: key, nonce: nonce, associatedData: [6]) == nil)
    }
}
