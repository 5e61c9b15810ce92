import Crypto
import Testing

@testable import EpochCore

@Suite struct RoughtimeCodecTests {
    @Test func tagsAreTheirIANAValues() {
        #expect(RoughtimeTag.sig.rawValue == 0x0047_4953)
        #expect(RoughtimeTag.ver.rawValue == 0x0052_4556)
        #expect(RoughtimeTag.nonc.rawValue == 0x434E_4F4E)
        #expect(RoughtimeTag.srep.rawValue == 0x5045_5253)
        #expect(RoughtimeTag.midp.rawValue == 0x5044_494D)
        #expect(RoughtimeTag.sig.description == "SIG")
    }

    /// Hand-computed: two tags, one offset; the control swaps the order and must not parse.
    @Test func encodesAndParsesAHandComputedMessage() throws {
        let message = RoughtimeMessage([(.radi, [1, 0, 0, 0]), (.nonc, [9, 9, 9, 9, 8, 8, 8, 8])])
        let expected: [UInt8] =
            [2, 0, 0, 0, 8, 0, 0, 0] + [0x4E, 0x4F, 0x4E, 0x43, 0x52, 0x41, 0x44, 0x49] + [9, 9, 9, 9, 8, 8, 8, 8]
            + [1, 0, 0, 0]
        #expect(message.encoded() == expected)
        #expect(try RoughtimeMessage.parse(expected[...]) == message)
        var swapped = expected
        swapped.replaceSubrange(8..<16, with: [0x52, 0x41, 0x44, 0x49, 0x4E, 0x4F, 0x4E, 0x43])
        #expect(throws: RoughtimeFormatError.self) { try RoughtimeMessage.parse(swapped[...]) }
    }

    @Test func ourRequestHasTheLayoutOfTheReferenceImplementations() throws {
        let request = RoughtimeRequest.make(nonce: RoughtimeVectors.nonce, versions: [.rfc])
        #expect(request.count == 1024)
        // roughly's build_request for the same nonce and version starts with exactly these bytes.
        let prefix = RoughtimeVectors.bytes(
            "524f55474854494df403000004000000040000002400000028000000564552004e4f4e43545950455a5a5a5a01000000")
        #expect(Array(request.prefix(prefix.count)) == prefix)
        let parsed = try RoughtimeRequest(parsing: request, serverKeyHash: [])
        #expect(parsed.version == .rfc)
        #expect(parsed.nonce == RoughtimeVectors.nonce)
    }

    @Test(arguments: [
        ("too_short", Array(RoughtimeRequest.make(nonce: RoughtimeVectors.nonce).prefix(1023))),
        ("bad_magic", [UInt8](repeating: 0, count: 1024)),
    ])
    func dropsRequestsByReason(expected: String, bytes: [UInt8]) {
        #expect(reason(bytes) == expected)
    }

    /// A 1024-byte packet around a message body written by hand.
    private func packet(_ body: [UInt8]) -> [UInt8] {
        var message = body
        message += [UInt8](repeating: 0, count: 1012 - body.count)
        var bytes = RoughtimePacket.magic
        bytes.appendLittleEndian(UInt32(message.count))
        return bytes + message
    }

    /// A 1024-byte packet of `fields` and ZZZZ padding.
    private func padded(_ fields: [(RoughtimeTag, [UInt8])]) -> [UInt8] {
        let bare = RoughtimeMessage(fields + [(.zzzz, [])])
        let padding = [UInt8](repeating: 0, count: 1024 - RoughtimePacket.headerSize - bare.encodedSize)
        return RoughtimePacket.frame(RoughtimeMessage(fields + [(.zzzz, padding)]))
    }

    private func reason(_ bytes: [UInt8]) -> String? {
        do {
            _ = try RoughtimeRequest(parsing: bytes, serverKeyHash: [])
            return nil
        } catch {
            return error.reason
        }
    }

    @Test func malformedRequestsAreRefusedWithTheirReason() {
        let le = { (value: UInt32) in RoughtimeMessage.bytes(uint32: value) }
        // A huge tag count: refused before anything sized by it is allocated.
        #expect(reason(packet(le(0xFFFF_FFFF))) == "truncated_header")
        #expect(reason(packet(le(0))) == "no_tags")
        // Truncated header: the packet length field says more than there is.
        var truncated = RoughtimeRequest.make(nonce: RoughtimeVectors.nonce)
        truncated.replaceSubrange(8..<12, with: le(5000))
        #expect(reason(truncated) == "length_mismatch")
        #expect(throws: RoughtimeFormatError("truncated_header", "packet of 11 bytes is shorter than its header")) {
            try RoughtimePacket.unframe(truncated.prefix(11))
        }
        // Offsets out of order, out of range, misaligned.
        let tags = le(RoughtimeTag.ver.rawValue) + le(RoughtimeTag.nonc.rawValue) + le(RoughtimeTag.zzzz.rawValue)
        #expect(reason(packet(le(3) + le(8) + le(4) + tags)) == "offsets_out_of_order")
        #expect(reason(packet(le(3) + le(4) + le(4000) + tags)) == "offset_out_of_range")
        #expect(reason(packet(le(3) + le(3) + le(8) + tags)) == "misaligned")
        // Tags not ascending.
        let unsorted = le(RoughtimeTag.nonc.rawValue) + le(RoughtimeTag.ver.rawValue) + le(RoughtimeTag.zzzz.rawValue)
        #expect(reason(packet(le(3) + le(4) + le(36) + unsorted)) == "tags_out_of_order")
        // Missing NONC, unknown versions, missing VER.
        let noNonce = padded([(.ver, le(1)), (.type, le(0))])
        #expect(reason(noNonce) == "missing_nonc")
        let unknown = padded([
            (.ver, le(0x8000_000B) + le(0x8000_0010)), (.nonc, RoughtimeVectors.nonce), (.type, le(0)),
        ])
        #expect(reason(unknown) == "unsupported_version")
        let noVersion = padded([(.nonc, RoughtimeVectors.nonce)])
        #expect(reason(noVersion) == "missing_ver")
        // Version 1 requires TYPE; the control with TYPE 0 parses.
        let noType = padded([(.ver, le(1)), (.nonc, RoughtimeVectors.nonce)])
        #expect(noType.count == 1024)
        #expect(reason(noType) == "missing_type")
        #expect(reason(RoughtimeRequest.make(nonce: RoughtimeVectors.nonce, versions: [.rfc])) == nil)
    }

    @Test func negotiatesTheRFCVersionFirst() {
        #expect(RoughtimeVersion.negotiate([1, 0x8000_000C]) == .rfc)
        #expect(RoughtimeVersion.negotiate([0x8000_000B, 0x8000_000C]) == .draft12)
        #expect(RoughtimeVersion.negotiate([0x8000_000B]) == nil)
    }

    /// Every path of trees of 1 to 17 leaves leads to the root; the control flips INDX (where the
    /// sibling is another leaf, not the padding's copy of this one).
    @Test func merklePathsLeadToTheRootForEveryTreeSize() {
        for count in 1...17 {
            let leaves = (0..<count).map { RoughtimeMerkle.leaf([UInt8(truncatingIfNeeded: $0)]) }
            let tree = RoughtimeMerkle.Tree(leaves: leaves)
            for index in 0..<count {
                let path = tree.path(index)
                #expect(RoughtimeMerkle.root(leaf: leaves[index], index: UInt32(index), path: path) == tree.root)
                if index ^ 1 < count {
                    #expect(
                        RoughtimeMerkle.root(leaf: leaves[index], index: UInt32(index ^ 1), path: path) != tree.root)
                }
            }
        }
    }

    @Test func merkleHashesAreTruncatedSHA512WithTheirPrefixes() {
        let leaf = RoughtimeMerkle.leaf([0xAB])
        #expect(leaf == Array(SHA512.hash(data: [UInt8(0x00), 0xAB]).prefix(32)))
        let tree = RoughtimeMerkle.Tree(leaves: [leaf, leaf])
        #expect(tree.root == Array(SHA512.hash(data: [UInt8(0x01)] + leaf + leaf).prefix(32)))
        #expect(RoughtimeMerkle.Tree(leaves: [leaf]).root == leaf)
        #expect(RoughtimeMerkle.Tree(leaves: [leaf]).path(0).isEmpty)
    }

    @Test func verifiesTheReferenceImplementationsReplies() throws {
        let key = try RoughtimeKeyText.publicKey(RoughtimeVectors.publicKey)
        for (version, reply) in [
            (RoughtimeVersion.rfc, RoughtimeVectors.replyVersion1), (.draft12, RoughtimeVectors.replyDraft12),
        ] {
            let request = RoughtimeRequest.make(nonce: RoughtimeVectors.nonce, versions: [version])
            let verified = try RoughtimeReply(verifying: reply, request: request, publicKey: key)
            #expect(verified.version == version)
            #expect(verified.midpoint == RoughtimeVectors.midpoint)
            #expect(verified.radius == 3)
        }
    }

    /// Controls: the same reply with one thing wrong fails, naming the check.
    @Test func refusesTamperedReplies() throws {
        let key = try RoughtimeKeyText.publicKey(RoughtimeVectors.publicKey)
        let request = RoughtimeRequest.make(nonce: RoughtimeVectors.nonce, versions: [.rfc])
        func failure(_ reply: [UInt8], request: [UInt8], key: Curve25519.Signing.PublicKey) -> String? {
            do {
                _ = try RoughtimeReply(verifying: reply, request: request, publicKey: key)
                return nil
            } catch {
                return error.reason
            }
        }
        let reply = RoughtimeVectors.replyVersion1
        #expect(failure(reply, request: request, key: key) == nil)
        #expect(
            failure(reply, request: request, key: Curve25519.Signing.PrivateKey().publicKey) == "delegation_signature")
        // Another nonce: the request's own NONC differs from the reply's.
        let otherRequest = RoughtimeRequest.make(nonce: [UInt8](repeating: 3, count: 32), versions: [.rfc])
        #expect(failure(reply, request: otherRequest, key: key) == "nonce_mismatch")
        // Offered only the draft version: the reply's version 1 was not offered.
        let draftRequest = RoughtimeRequest.make(nonce: RoughtimeVectors.nonce, versions: [.draft12])
        #expect(failure(reply, request: draftRequest, key: key) == "unsupported_version")
        // One bit of MIDP flipped (inside SREP): the response signature breaks.
        let midpointAt = reply.indices.first { Array(reply[$0..<$0 + 4]) == [0x8B, 0x86, 0x0E, 0x6B] }!
        var tampered = reply
        tampered[midpointAt] ^= 1
        #expect(failure(tampered, request: request, key: key) == "response_signature")
        // One bit of the PATH flipped: the Merkle check breaks (PATH is not signed).
        var badPath = reply
        let pathStart = 12 + 56 + 64 + 32 + 4
        badPath[pathStart] ^= 1
        #expect(failure(badPath, request: request, key: key) == "merkle_path")
        #expect(failure(Array(reply.prefix(100)), request: request, key: key) == "length_mismatch")
    }

    @Test func ourRepliesVerifyForEveryBatchSize() throws {
        let longTerm = Curve25519.Signing.PrivateKey()
        let delegation = try RoughtimeDelegation(longTermKey: longTerm, mint: 1000, maxt: 2000)
        for version in RoughtimeVersion.allCases {
            for count in [1, 2, 3, 8, 33] {
                let packets = (0..<count).map { i in
                    RoughtimeRequest.make(nonce: [UInt8](repeating: UInt8(i), count: 32), versions: [version])
                }
                let requests = try packets.map { try RoughtimeRequest(parsing: $0, serverKeyHash: []) }
                let replies = try RoughtimeResponder.respond(
                    to: requests, version: version, delegation: delegation, midpoint: 1500, radius: 3)
                for (packet, reply) in zip(packets, replies) {
                    #expect(reply.count <= packet.count)
                    let verified = try RoughtimeReply(verifying: reply, request: packet, publicKey: longTerm.publicKey)
                    #expect(verified.midpoint == 1500 && verified.version == version)
                }
            }
        }
        // Control: MIDP outside MINT..MAXT is refused.
        let packet = RoughtimeRequest.make(nonce: RoughtimeVectors.nonce)
        let late = try RoughtimeResponder.respond(
            to: [try RoughtimeRequest(parsing: packet, serverKeyHash: [])], version: .rfc, delegation: delegation,
            midpoint: 2001, radius: 3)[0]
        #expect(throws: RoughtimeFormatError.self) {
            try RoughtimeReply(verifying: late, request: packet, publicKey: longTerm.publicKey)
        }
    }

    @Test func radiusFollowsTheKernelWithTheRFCsMinimum() {
        let synchronized = ClockDiscipline(
            state: .ok, status: 0, maxErrorNanoseconds: 20_000_000, estimatedErrorNanoseconds: 1_000_000)
        #expect(RoughtimeRadius.seconds(for: synchronized) == 3)
        let loose = ClockDiscipline(
            state: .ok, status: 0, maxErrorNanoseconds: 4_200_000_000, estimatedErrorNanoseconds: 0)
        #expect(RoughtimeRadius.seconds(for: loose) == 5)
        let unsynchronized = ClockDiscipline(
            state: .error, status: ClockDiscipline.statusUnsynchronized, maxErrorNanoseconds: 16_000_000_000,
            estimatedErrorNanoseconds: 16_000_000_000)
        #expect(RoughtimeRadius.seconds(for: unsynchronized) == 17)
        #expect(RoughtimeRadius.seconds(for: .unavailable("adjtimex: EPERM")) == 17)
    }

    @Test func parsesRoughtimeAddresses() throws {
        #expect(
            try RoughtimeAddress(parsing: "roughtime://127.0.0.1:2002")
                == RoughtimeAddress(host: "127.0.0.1", port: 2002))
        #expect(try RoughtimeAddress(parsing: "roughtime://[::1]:5319").description == "roughtime://[::1]:5319")
        #expect(throws: RoughtimeAddress.Invalid.self) { try RoughtimeAddress(parsing: "roughtime://host") }
        #expect(throws: RoughtimeAddress.Invalid.self) { try RoughtimeAddress(parsing: "roughtime://host:0") }
    }

    @Test func keyTextNeverEchoesTheKey() throws {
        let key = Curve25519.Signing.PrivateKey()
        let contents = RoughtimeKeyText.fileContents(key)
        #expect(try RoughtimeKeyText.privateKey(contents).rawRepresentation == key.rawRepresentation)
        let text = String(decoding: contents, as: UTF8.self)
        do {
            _ = try RoughtimeKeyText.privateKey(Array(text.dropLast(5).utf8))
            Issue.record("a truncated key parsed")
        } catch {
            #expect(!error.description.contains(text.prefix(8)))
        }
    }
}
