/// The NTS half of an NTP exchange (RFC 8915 §5): authenticates a request with the C2S key its
/// cookie holds, and seals the reply, with fresh cookies, under the S2C key. A pure function of the
/// request bytes, the reply header the plain NTP rules made, the keyring and the injected clock and
/// randomness, so that unit tests and fuzz targets call it without a socket.
public struct NTSNTPResponder: Sendable {
    public var keyring: NTSCookieKeyring

    /// The most cookies one reply carries: one per cookie and placeholder received, at most 8.
    public static let maxCookies = 8
    /// RFC 8915 §5.3: the Unique Identifier is at least 32 bytes.
    public static let minUniqueIdentifierBytes = 32

    public init(keyring: NTSCookieKeyring) {
        self.keyring = keyring
    }

    /// Why an NTS request got no authenticated reply: the `result` label of
    /// `epoch_ntp_nts_requests_total` (with `authenticated` for the replies).
    public enum Failure: String, Sendable, CaseIterable, Error {
        /// Extension fields that do not tile the packet, or NTS fields broken or repeated.
        case malformed
        /// NTS fields without a Unique Identifier, a cookie or an authenticator.
        case incomplete
        /// A cookie no key opens (unknown, retired, forged): answered with an NTS NAK.
        case unknownCookie = "nak_unknown_cookie"
        /// The authenticator does not verify under the cookie's C2S key.
        case badAuthenticator = "bad_authenticator"
        /// Not even one cookie fits in a reply no larger than the request.
        case replyTooLarge = "reply_too_large"
    }

    public enum Decision: Sendable, Equatable {
        /// No NTS field: a plain NTP request.
        case unauthenticated
        /// The reply's bytes, transmit timestamp set and authenticator sealed.
        case reply([UInt8], cookies: Int)
        /// The NTS NAK (a Kiss-o'-Death "NTSN" with the Unique Identifier echoed).
        case nak([UInt8])
        case drop(Failure)
    }

    /// The reply to `request`, whose header answer is `header` (origin, receive time and the
    /// clock's state already set by NTPResponder). `transmitTime` is read right before sealing, as
    /// the authenticator covers it. `random(n)` gives n random bytes (nonces).
    public func respond(
        to request: [UInt8], header: NTPPacket, transmitTime: () -> NTPTimestamp, random: (Int) -> [UInt8]
    ) -> Decision {
        guard request.count > NTPPacket.size else { return .unauthenticated }
        guard let fields = NTPExtensionField.parseAll(request, from: NTPPacket.size) else {
            // Not extension fields (a legacy MAC, say): NTS's or not, nothing here reads it.
            return .unauthenticated
        }
        guard fields.contains(where: { NTPExtensionField.ntsTypes.contains($0.type) }) else { return .unauthenticated }
        var uniqueIdentifier: NTPExtensionField?
        var cookie: NTPExtensionField?
        var placeholders = 0
        var authenticator: NTPExtensionField?
        for field in fields {
            // Nothing may follow the authenticator: it would be unauthenticated.
            guard authenticator == nil else { return .drop(.malformed) }
            switch field.type {
            case NTPExtensionField.uniqueIdentifier:
                guard uniqueIdentifier == nil, field.body.count >= Self.minUniqueIdentifierBytes else {
                    return .drop(.malformed)
                }
                uniqueIdentifier = field
            case NTPExtensionField.ntsCookie:
                guard cookie == nil else { return .drop(.malformed) }
                cookie = field
            case NTPExtensionField.ntsCookiePlaceholder:
                placeholders += 1
            case NTPExtensionField.ntsAuthenticator:
                authenticator = field
            default:
                continue  // RFC 7822: unknown fields are ignored (the authenticator covers them)
            }
        }
        guard let uniqueIdentifier, let cookie, let authenticator else { return .drop(.incomplete) }
        guard let session = keyring.open(cookie.body) else {
            return .nak(Self.nak(header: header, uniqueIdentifier: request[uniqueIdentifier.range]))
        }
        guard let (nonce, ciphertext) = Self.authenticatorParts(authenticator.body) else { return .drop(.malformed) }
        guard
            let plaintext = session.algorithm.open(
                ciphertext, key: session.c2s, nonce: nonce,
                associatedData: Array(request[..<authenticator.range.lowerBound]))
        else { return .drop(.badAuthenticator) }
        // Placeholders may also travel encrypted (§5.7).
        guard let inner = NTPExtensionField.parseAll(plaintext, from: 0) else { return .drop(.malformed) }
        placeholders += inner.count(where: { $0.type == NTPExtensionField.ntsCookiePlaceholder })

        var reply = header
        reply.transmitTime = transmitTime()
        let head = reply.bytes + Array(request[uniqueIdentifier.range])
        let cookieField = 4 + NTSCookieKeyring.cookieByteCount(for: session.algorithm)
        let algorithm = session.algorithm
        let fixed = head.count + 8 + algorithm.nonceByteCount + algorithm.overheadByteCount
        // No reply larger than its request: fewer cookies if need be (RFC 8915 §5.7 asks for one
        // per cookie and placeholder, which a request's own fields pay for whenever the client's
        // nonce is at least as long as ours; chrony's is).
        var count = min(1 + placeholders, Self.maxCookies)
        while count > 0, fixed + count * cookieField > request.count { count -= 1 }
        guard count > 0 else { return .drop(.replyTooLarge) }
        var cookies: [UInt8] = []
        for _ in 0..<count {
            let sealed = keyring.seal(session, nonce: random(NTSCookieKeyring.nonceByteCount))
            cookies += NTPExtensionField.encode(type: NTPExtensionField.ntsCookie, body: sealed)
        }
        let replyNonce = random(algorithm.nonceByteCount)
        guard let sealed = algorithm.seal(cookies, key: session.s2c, nonce: replyNonce, associatedData: head) else {
            return .drop(.badAuthenticator)
        }
        let body =
            [
                UInt8(replyNonce.count >> 8), UInt8(replyNonce.count & 0xFF), UInt8(sealed.count >> 8),
                UInt8(sealed.count & 0xFF),
            ]
            + replyNonce + sealed
        return .reply(
            head + NTPExtensionField.encode(type: NTPExtensionField.ntsAuthenticator, body: body), cookies: count)
    }

    /// The authenticator's nonce and ciphertext (RFC 8915 §5.6): their lengths, then each padded
    /// to a multiple of 4; nil when the lengths overrun the field.
    static func authenticatorParts(_ body: ArraySlice<UInt8>) -> (nonce: [UInt8], ciphertext: [UInt8])? {
        let bytes = Array(body)
        guard bytes.count >= 4 else { return nil }
        let nonceLength = Int(bytes[0]) << 8 | Int(bytes[1])
        let ciphertextLength = Int(bytes[2]) << 8 | Int(bytes[3])
        let nonceEnd = 4 + nonceLength
        let ciphertextStart = 4 + (nonceLength + 3) / 4 * 4
        guard nonceLength > 0, ciphertextStart + ciphertextLength <= bytes.count else { return nil }
        return (Array(bytes[4..<nonceEnd]), Array(bytes[ciphertextStart..<(ciphertextStart + ciphertextLength)]))
    }

    /// RFC 8915 §5.7: a Kiss-o'-Death with code "NTSN", the Unique Identifier echoed, nothing sealed.
    static func nak(header: NTPPacket, uniqueIdentifier: ArraySlice<UInt8>) -> [UInt8] {
        var kiss = header
        kiss.leap = .alarm
        kiss.stratum = 0
        kiss.referenceID = 0x4E54_534E  // "NTSN"
        kiss.referenceTime = .zero
        kiss.receiveTime = .zero
        kiss.transmitTime = .zero
        return kiss.bytes + Array(uniqueIdentifier)
    }
}
