import EpochCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The seeds of this target, made by the code the server runs (the keyring seals the cookies, the
// AEADs seal the authenticators) under the target's keyring, as a client that went through
// NTS-KE sends them: `EPOCH_FUZZ_WRITE_SEEDS=Tests/Fuzz/corpus/nts-ntp .build/asan/release/fuzz-nts-ntp`
// (Tests/Fuzz/seeds.py says so). Nonces are fixed, so that the files are the same every time.

/// The session keys of the seeds' cookies: AES-SIV-CMAC-256 (chrony 4.3) and AES-128-GCM-SIV.
let sivSession = NTSSessionKeys(
    algorithm: .aesSIVCMAC256, c2s: [UInt8](repeating: 0x11, count: 32), s2c: [UInt8](repeating: 0x22, count: 32))
let gcmSession = NTSSessionKeys(
    algorithm: .aes128GCMSIV, c2s: [UInt8](repeating: 0x33, count: 16), s2c: [UInt8](repeating: 0x44, count: 16))

/// chrony 4.3's client header (Tests/EpochCoreTests/NTPPacketTests.swift), transmit time included.
let chronyHeader: [UInt8] =
    [0x23, 0x00, 0x06, 0x20] + [UInt8](repeating: 0, count: 36) + [
        0x95, 0xEA, 0xEF, 0xF6, 0xF0, 0xEB, 0x95, 0x11,
    ]

/// A request as RFC 8915 §5.7 lays it out: header, Unique Identifier, cookie, placeholders,
/// other fields, then the authenticator over all of them, with `inner` fields encrypted in it.
func ntsRequest(
    session: NTSSessionKeys = sivSession, cookie: [UInt8]? = nil, placeholders: Int = 0, nonceLength: Int? = nil,
    inner: [UInt8] = [], extra: [UInt8] = [], sealingKey: [UInt8]? = nil
) -> [UInt8] {
    let cookie =
        cookie ?? keyring.seal(session, nonce: [UInt8](repeating: 0x5C, count: NTSCookieKeyring.nonceByteCount))
    var packet = chronyHeader
    packet += NTPExtensionField.encode(type: NTPExtensionField.uniqueIdentifier, body: (0..<32).map { UInt8($0 * 7) })
    packet += NTPExtensionField.encode(type: NTPExtensionField.ntsCookie, body: cookie)
    for _ in 0..<placeholders {
        packet += NTPExtensionField.encode(
            type: NTPExtensionField.ntsCookiePlaceholder, body: [UInt8](repeating: 0, count: cookie.count))
    }
    packet += extra
    let nonce = [UInt8](repeating: 0x4E, count: nonceLength ?? session.algorithm.nonceByteCount)
    let sealed = session.algorithm.seal(
        inner, key: sealingKey ?? session.c2s, nonce: nonce, associatedData: packet)!
    let body =
        [UInt8(nonce.count >> 8), UInt8(nonce.count & 0xFF), UInt8(sealed.count >> 8), UInt8(sealed.count & 0xFF)]
        + nonce + [UInt8](repeating: 0, count: (4 - nonce.count % 4) % 4) + sealed
    return packet + NTPExtensionField.encode(type: NTPExtensionField.ntsAuthenticator, body: body)
}

func writeSeeds(to folder: String) {
    let placeholder = NTPExtensionField.encode(
        type: NTPExtensionField.ntsCookiePlaceholder,
        body: [UInt8](repeating: 0, count: NTSCookieKeyring.cookieByteCount(for: .aesSIVCMAC256)))
    let retired = try! NTSCookieKeyring(keys: [NTSCookieKey(id: 0x0BAD_C0DE, key: [UInt8](repeating: 9, count: 32))])
    let secondKey = try! NTSCookieKeyring(keys: [keyring.keys[1]])
    let seeds: [(String, [UInt8])] = [
        ("siv", ntsRequest()),
        ("siv-placeholder", ntsRequest(placeholders: 1)),
        ("siv-7-placeholders", ntsRequest(placeholders: 7)),
        ("siv-encrypted-placeholder", ntsRequest(inner: placeholder)),
        ("gcm-siv", ntsRequest(session: gcmSession, placeholders: 1)),
        // A cookie of the previous key, which still opens.
        ("previous-key", ntsRequest(cookie: secondKey.seal(sivSession, nonce: [UInt8](repeating: 1, count: 16)))),
        // RFC 7822: a field NTS does not know, covered by the authenticator.
        ("unknown-field", ntsRequest(extra: NTPExtensionField.encode(type: 0x2005, body: [1, 2, 3, 4, 5]))),
        // A cookie no key opens: the NTS NAK.
        ("retired-cookie", ntsRequest(cookie: retired.seal(sivSession, nonce: [UInt8](repeating: 2, count: 16)))),
        // Sealed with the wrong key: bad_authenticator.
        ("wrong-c2s", ntsRequest(sealingKey: [UInt8](repeating: 0x66, count: 32))),
        // A 4-byte nonce: the request is shorter than any reply with a cookie (reply_too_large).
        ("short-nonce", ntsRequest(nonceLength: 4)),
        // Plain NTP: answered, or refused when NTS is required.
        ("plain", chronyHeader),
    ]
    for (name, bytes) in seeds {
        let path = folder + "/" + name
        guard let file = fopen(path, "wb") else {
            print("fuzz-nts-ntp: error: cannot write \(path)")
            exit(1)
        }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    print("\(seeds.count) seeds in \(folder)")
    exit(0)
}
