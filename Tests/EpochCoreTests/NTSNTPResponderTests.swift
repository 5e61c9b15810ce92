import Testing

@testable import EpochCore

/// The NTS exchange in NTP (RFC 8915 §5), with a client built here from the same codecs.
@Suite struct NTSNTPResponderTests {
    static let master = NTSCookieKey(id: 0x0102_0304, key: [UInt8](repeating: 0x42, count: 32))
    static let keyring = try! NTSCookieKeyring(keys: [master])
    static let session = NTSKETests.keys
    static let responder = NTSNTPResponder(keyring: keyring)
    static let header = NTPPacket(
        leap: .none, version: 4, mode: .server, stratum: 3, poll: 6, precision: -29,
        originTime: NTPTimestamp(bits: 0x1111), receiveTime: NTPTimestamp(bits: 0x2222))
    static let uid = [UInt8](repeating: 0xAB, count: 32)

    static func counter() -> (Int) -> [UInt8] {
        var next: UInt8 = 0
        return { count in
            next &+= 1
            return [UInt8](repeating: next, count: count)
        }
    }

    /// A client request: header, Unique Identifier, the cookie, placeholders, authenticator.
    static func request(
        session: NTSSessionKeys = session, cookie: [UInt8]? = nil, placeholders: Int = 0, nonce: [UInt8]? = nil
    ) -> [UInt8] {
        let nonce = nonce ?? [UInt8](repeating: 5, count: session.algorithm.nonceByteCount)
        let sealedCookie = cookie ?? keyring.seal(session, nonce: [UInt8](repeating: 3, count: 16))
        var packet = [0x23, 0, 6, 0x20] + [UInt8](repeating: 0, count: 36) + [UInt8](repeating: 7, count: 8)
        packet += NTPExtensionField.encode(type: NTPExtensionField.uniqueIdentifier, body: uid)
        packet += NTPExtensionField.encode(type: NTPExtensionField.ntsCookie, body: sealedCookie)
        for _ in 0..<placeholders {
            packet += NTPExtensionField.encode(
                type: NTPExtensionField.ntsCookiePlaceholder, body: [UInt8](repeating: 0, count: sealedCookie.count))
        }
        let sealed = session.algorithm.seal([], key: session.c2s, nonce: nonce, associatedData: packet)!
        let body = [0, UInt8(nonce.count), 0, UInt8(sealed.count)] + nonce + sealed
        return packet + NTPExtensionField.encode(type: NTPExtensionField.ntsAuthenticator, body: body)
    }

    static func respond(_ request: [UInt8]) -> NTSNTPResponder.Decision {
        responder.respond(
            to: request, header: header, transmitTime: { NTPTimestamp(bits: 0x3333) }, random: counter())
    }

    /// Verifies a reply as a client does; returns the cookies it carries.
    static func verify(_ reply: [UInt8], session: NTSSessionKeys = session) -> [[UInt8]]? {
        guard let fields = NTPExtensionField.parseAll(reply, from: 48), fields.count == 2,
            fields[0].type == NTPExtensionField.uniqueIdentifier, Array(fields[0].body) == uid,
            fields[1].type == NTPExtensionField.ntsAuthenticator,
            let (nonce, ciphertext) = NTSNTPResponder.authenticatorParts(fields[1].body),
            let plaintext = session.algorithm.open(
                ciphertext, key: session.s2c, nonce: nonce, associatedData: Array(reply[..<fields[1].range.lowerBound])),
            let inner = NTPExtensionField.parseAll(plaintext, from: 0)
        else { return nil }
        return inner.filter { $0.type == NTPExtensionField.ntsCookie }.map {
            Array($0.body.prefix(NTSCookieKeyring.cookieByteCount(for: session.algorithm)))
        }
    }

    @Test(arguments: [0, 1, 7, 9])
    func anAuthenticRequestGetsASealedReplyWithOneCookiePerCookieOrPlaceholder(placeholders: Int) throws {
        let request = Self.request(placeholders: placeholders)
        guard case .reply(let reply, let count) = Self.respond(request) else {
            Issue.record("no reply")
            return
        }
        #expect(count == min(1 + placeholders, 8))
        #expect(reply.count <= request.count)
        let packet = try NTPPacket(parsing: reply)
        #expect(packet.transmitTime == NTPTimestamp(bits: 0x3333) && packet.originTime == Self.header.originTime)
        let cookies = try #require(Self.verify(reply))
        #expect(cookies.count == count)
        for cookie in cookies { #expect(Self.keyring.open(cookie) == Self.session) }
    }

    @Test func gcmSIVSessionsWorkToo() {
        let session = NTSSessionKeys(
            algorithm: .aes128GCMSIV, c2s: [UInt8](repeating: 1, count: 16), s2c: [UInt8](repeating: 2, count: 16))
        let request = Self.request(session: session, placeholders: 2)
        guard case .reply(let reply, 3) = Self.respond(request) else {
            Issue.record("no reply")
            return
        }
        #expect(Self.verify(reply, session: session)?.count == 3)
    }

    /// The control: one flipped bit anywhere in the authenticated part, and no reply.
    @Test func aTamperedRequestIsDropped() {
        let request = Self.request()
        for index in [2, 30, 47, 60, 90, request.count - 20, request.count - 1] {
            var tampered = request
            tampered[index] ^= 0x01
            let decision = Self.respond(tampered)
            #expect(decision == .drop(.badAuthenticator) || decision == .nak(tamperedNAK(tampered)), "byte \(index)")
        }
    }

    private func tamperedNAK(_ request: [UInt8]) -> [UInt8] {
        NTSNTPResponder.nak(header: Self.header, uniqueIdentifier: request[48..<84])
    }

    @Test func anUnknownCookieGetsANAK() throws {
        let otherKeyring = try NTSCookieKeyring(keys: [NTSCookieKey(id: 9, key: [UInt8](repeating: 1, count: 32))])
        let request = Self.request(cookie: otherKeyring.seal(Self.session, nonce: [UInt8](repeating: 3, count: 16)))
        guard case .nak(let nak) = Self.respond(request) else {
            Issue.record("no NAK")
            return
        }
        let packet = try NTPPacket(parsing: nak)
        #expect(packet.stratum == 0 && packet.referenceID == 0x4E54_534E && packet.leap == .alarm)
        #expect(Array(nak[48...]) == NTPExtensionField.encode(type: NTPExtensionField.uniqueIdentifier, body: Self.uid))
    }

    @Test func thePreviousKeyStillOpensAfterARotation() throws {
        let cookie = Self.keyring.seal(Self.session, nonce: [UInt8](repeating: 3, count: 16))
        let rotated = try NTSCookieKeyring(
            keys: [NTSCookieKey(id: 77, key: [UInt8](repeating: 0x55, count: 32)), Self.master])
        #expect(rotated.open(cookie) == Self.session)
        #expect(rotated.seal(Self.session, nonce: [UInt8](repeating: 3, count: 16)).prefix(4) == [0, 0, 0, 77])
        let retired = try NTSCookieKeyring(keys: [NTSCookieKey(id: 77, key: [UInt8](repeating: 0x55, count: 32))])
        #expect(retired.open(cookie) == nil)
    }

    @Test func plainNTPIsNotNTS() {
        let plain = [0x23, 0, 6, 0x20] + [UInt8](repeating: 0, count: 36) + [UInt8](repeating: 7, count: 8)
        #expect(Self.respond(plain) == .unauthenticated)
        // A legacy MAC (key ID and digest, 20 bytes): not extension fields either.
        #expect(Self.respond(plain + [UInt8](repeating: 1, count: 20)) == .unauthenticated)
    }

    @Test func missingOrRepeatedFieldsAreDropped() {
        let request = Self.request()
        // Without the authenticator (its 4 + 4 + 16 + 16 bytes at the end).
        #expect(Self.respond(Array(request.dropLast(40))) == .drop(.incomplete))
        let uidField = Array(request[48..<84])
        var twice = Array(request[..<84]) + uidField + Array(request[84...])
        #expect(Self.respond(twice) == .drop(.malformed))
        twice = request + uidField  // a field after the authenticator
        #expect(Self.respond(twice) == .drop(.malformed))
    }

    @Test func aShortClientNonceGetsFewerCookiesNeverALargerReply() {
        let request = Self.request(placeholders: 0, nonce: [1, 2, 3, 4])
        switch Self.respond(request) {
        case .reply(let reply, _): #expect(reply.count <= request.count)
        case .drop(let reason): #expect(reason == .replyTooLarge)
        default: Issue.record("neither a reply nor a drop")
        }
    }

    /// Random mutations of a good request: never a trap, never a reply larger than the request.
    @Test func mutatedRequestsNeverGetALargerReply() {
        var generator = SystemRandomNumberGenerator()
        let base = Self.request(placeholders: 3)
        for _ in 0..<3000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                switch Int.random(in: 0..<3, using: &generator) {
                case 0:
                    bytes[Int.random(in: 48..<bytes.count, using: &generator)] = .random(in: 0...255, using: &generator)
                case 1: bytes = Array(bytes.prefix(Int.random(in: 48...bytes.count, using: &generator)))
                default: bytes += [UInt8](repeating: .random(in: 0...255, using: &generator), count: 4)
                }
                if bytes.count <= 48 { break }
            }
            switch Self.respond(bytes) {
            case .reply(let reply, _), .nak(let reply): #expect(reply.count <= bytes.count)
            case .drop, .unauthenticated: break
            }
        }
    }

    @Test func theKeyFileRoundTripsAndNamesBadLinesWithoutTheirContents() throws {
        let keys = [Self.master, NTSCookieKey(id: 2, key: [UInt8](repeating: 9, count: 32))]
        #expect(try NTSCookieKeyFile.parse(NTSCookieKeyFile.contents(keys)).keys == keys)
        let secretLooking = Array("0102030a deadbeef\n".utf8)
        #expect(throws: NTSCookieKeyring.Invalid.self) { try NTSCookieKeyFile.parse(secretLooking) }
        do {
            _ = try NTSCookieKeyFile.parse(secretLooking)
        } catch {
            #expect(!error.description.contains("deadbeef") && error.description.contains("line 1"))
        }
        #expect(throws: NTSCookieKeyring.Invalid.self) { try NTSCookieKeyFile.parse(Array("# empty\n".utf8)) }
    }
}
